using System.Reflection;
using System.Text.Json.Nodes;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// Webhook endpoints (<c>/v1/webhook_endpoints</c>) as Stripe keeps them: a URL, the events it wants, the API version its
/// events are rendered in (null: the account's) and a signing secret shown only in the answer that created it.
/// </summary>
public sealed partial class EmulatedStripe
{
    /// <summary>Every event type Stripe.net knows (its <c>EventTypes</c> constants), plus <c>*</c>: what <c>enabled_events</c> may name.</summary>
    private static readonly Lazy<HashSet<string>> KnownEventTypes = new(() =>
    {
        var types = typeof(Stripe.EventTypes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToHashSet(StringComparer.Ordinal);
        types.Add("*");
        return types;
    });

    internal static async Task<JsonObject> CreateWebhookEndpointAsync(EmulatorTx tx, FormParams p)
    {
        var url = CheckUrl(p.Required("url"));
        if (!p.Has("enabled_events")) throw StripeApiException.MissingParam("enabled_events");
        var endpoint = StripeShapes.WebhookEndpoint(Ids.New("we_"), tx.Now);
        endpoint["url"] = url;
        endpoint["enabled_events"] = EnabledEvents(p);
        if (p.Str("api_version") is { Length: > 0 } version)
        {
            if (!IsApiVersion(version))
                throw StripeApiException.Invalid($"Invalid API version: {version}", "api_version");
            endpoint["api_version"] = version;
        }
        if (p.Has("description")) endpoint["description"] = p.Str("description") is { Length: > 0 } d ? d : null;
        FormParams.MergeMetadata(endpoint, p.Obj("metadata"));
        var secret = "whsec_" + Ids.Random(32);
        await tx.PutAsync(endpoint, privateData: new JsonObject { ["secret"] = secret });
        var answer = endpoint.DeepClone().AsObject();
        answer["secret"] = secret;
        return answer;
    }

    internal static async Task<JsonObject> UpdateWebhookEndpointAsync(EmulatorTx tx, string id, FormParams p)
    {
        var endpoint = await tx.GetAsync(id, "webhook_endpoint");
        if (p.Has("url")) endpoint["url"] = CheckUrl(p.Required("url"));
        if (p.Has("enabled_events")) endpoint["enabled_events"] = EnabledEvents(p);
        if (p.Bool("disabled") is { } disabled) endpoint["status"] = disabled ? "disabled" : "enabled";
        if (p.Has("description")) endpoint["description"] = p.Str("description") is { Length: > 0 } d ? d : null;
        FormParams.MergeMetadata(endpoint, p.Obj("metadata"));
        await tx.PutAsync(endpoint);
        return endpoint;
    }

    internal static async Task<JsonObject> DeleteWebhookEndpointAsync(EmulatorTx tx, string id)
    {
        await tx.GetAsync(id, "webhook_endpoint");
        await tx.DeleteAsync(id);
        return new JsonObject { ["id"] = id, ["object"] = "webhook_endpoint", ["deleted"] = true };
    }

    private static string CheckUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? url
            : throw StripeApiException.Invalid($"Invalid URL: {url}. URLs must begin with http or https.", "url", "url_invalid");

    private static JsonArray EnabledEvents(FormParams p)
    {
        var events = p.Strings("enabled_events");
        if (events.Count == 0)
            throw StripeApiException.Invalid("Invalid array", "enabled_events");
        for (var i = 0; i < events.Count; i++)
            if (!KnownEventTypes.Value.Contains(events[i]))
                throw StripeApiException.Invalid($"Invalid enabled_events[{i}]: must be one of {string.Join(", ", KnownEventTypes.Value.Order(StringComparer.Ordinal))}", $"enabled_events[{i}]");
        return new JsonArray([.. events.Distinct(StringComparer.Ordinal).Select(e => (JsonNode)e)]);
    }

    /// <summary>Whether an endpoint gets events of this type: enabled, and listening to the type or to <c>*</c>.</summary>
    internal static bool Wants(JsonObject endpoint, string type) =>
        endpoint["status"]?.GetValue<string>() == "enabled"
        && endpoint["enabled_events"] is JsonArray events
        && events.Any(e => e?.GetValue<string>() is { } name && (name == "*" || name == type));
}
