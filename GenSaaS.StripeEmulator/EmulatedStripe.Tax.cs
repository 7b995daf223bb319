using System.Text.Json.Nodes;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// Stripe Tax's account settings (<c>/v1/tax/settings</c>): one <c>tax.settings</c> object per account. A new account's is
/// <c>pending</c> with <c>head_office</c> missing; once a head office address is set it is <c>active</c>. Parameters can be
/// changed but not removed, as at Stripe. The emulator computes no tax: a session with automatic tax carries
/// <c>automatic_tax.enabled</c> and a status, and its <c>total_details.amount_tax</c> stays 0.
/// </summary>
public sealed partial class EmulatedStripe
{
    private const string TaxSettingsSetting = "tax_settings";

    /// <summary>Stripe's words when a Checkout Session asks for automatic tax on an account whose Stripe Tax is not active.</summary>
    public const string StripeTaxInactiveMessage = "Stripe Tax has not been activated on your account. Please visit https://stripe.com/docs/tax/set-up to get started.";

    private static JsonObject NewTaxSettings() => new()
    {
        ["object"] = "tax.settings",
        ["defaults"] = new JsonObject { ["tax_behavior"] = null, ["tax_code"] = "txcd_10000000", ["provider"] = "stripe" },
        ["head_office"] = null,
        ["livemode"] = false,
        ["status"] = "pending",
        ["status_details"] = new JsonObject { ["pending"] = new JsonObject { ["missing_fields"] = new JsonArray("head_office") } },
    };

    internal static async Task<JsonObject> GetTaxSettingsAsync(EmulatorTx tx) =>
        await tx.GetSettingAsync(TaxSettingsSetting) is { } json ? JsonNode.Parse(json)!.AsObject() : NewTaxSettings();

    /// <summary>The account's Stripe Tax status (<c>pending</c> or <c>active</c>), for the dev controls.</summary>
    public Task<string> TaxStatusAsync() =>
        WriteAsync(null, async tx => (await GetTaxSettingsAsync(tx))["status"]!.GetValue<string>());

    internal static async Task<bool> TaxIsActiveAsync(EmulatorTx tx) =>
        (await GetTaxSettingsAsync(tx))["status"]?.GetValue<string>() == "active";

    private static readonly string[] AddressFields = ["city", "country", "line1", "line2", "postal_code", "state"];

    private static readonly HashSet<string> TaxBehaviors = new(StringComparer.Ordinal) { "exclusive", "inclusive", "inferred_by_currency" };

    internal static async Task<JsonObject> UpdateTaxSettingsAsync(EmulatorTx tx, FormParams p)
    {
        var settings = await GetTaxSettingsAsync(tx);
        if (p.Obj("defaults") is { } defaults)
        {
            var current = settings["defaults"]!.AsObject();
            if (defaults.ContainsKey("tax_behavior"))
            {
                var behavior = FormParams.Str(defaults, "tax_behavior") ?? "";
                // "Once specified, it cannot be changed back to null."
                if (!TaxBehaviors.Contains(behavior))
                    throw StripeApiException.Invalid(
                        $"Invalid defaults[tax_behavior]: must be one of {string.Join(", ", TaxBehaviors.Order(StringComparer.Ordinal))}", "defaults[tax_behavior]");
                current["tax_behavior"] = behavior;
            }
            if (defaults.ContainsKey("tax_code"))
            {
                if (FormParams.Str(defaults, "tax_code") is { Length: > 0 } code)
                    current["tax_code"] = code;
            }
        }
        else if (p.Has("defaults"))
            throw StripeApiException.Invalid("Invalid object", "defaults");

        if (p.Has("head_office"))
        {
            if (p.Obj("head_office")?["address"] is not JsonObject address)
                throw StripeApiException.MissingParam("head_office[address]");
            var stored = (settings["head_office"]?["address"] as JsonObject)?.DeepClone().AsObject() ?? StripeShapes.EmptyAddress();
            foreach (var (key, value) in address)
            {
                if (!AddressFields.Contains(key))
                    throw new StripeApiException(400, "invalid_request_error", $"Received unknown parameter: head_office[address][{key}]", "parameter_unknown", $"head_office[address][{key}]");
                var text = value?.ToString() ?? "";
                // Parameters can be changed but not removed once set: an empty value leaves the field as it was.
                if (text.Length > 0) stored[key] = key == "country" ? text.ToUpperInvariant() : text;
            }
            settings["head_office"] = new JsonObject { ["address"] = stored };
        }

        var active = settings["head_office"] is JsonObject;
        settings["status"] = active ? "active" : "pending";
        settings["status_details"] = active
            ? new JsonObject { ["active"] = new JsonObject() }
            : new JsonObject { ["pending"] = new JsonObject { ["missing_fields"] = new JsonArray("head_office") } };
        await tx.SetSettingAsync(TaxSettingsSetting, settings.ToJsonString());
        return settings;
    }
}
