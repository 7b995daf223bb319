using System.Security.Claims;
using System.Text.Json;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Plans;
using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// <c>PUT /api/v1/billing/auto-top-up</c>: turns auto top-up on or off and sets its threshold, bundle and monthly cap; the same
/// object is <c>autoTopUp</c> in <c>GET /api/v1/billing</c>.
/// </summary>
public static class AutoTopUpApi
{
    public const string Path = "/api/v1/billing/auto-top-up";

    /// <summary>
    /// Auto top-up as the API shows it. <c>monthlyCapMinor</c> caps what it may charge per calendar month (UTC) in minor units of
    /// <c>currency</c>; <c>maxMoreThisMonthMinor</c> is the most it can still charge this month (whole bundles under the cap).
    /// <c>available</c> is false while the operator's feature flags stop auto top-up for the customer: it buys nothing and cannot be turned on.
    /// </summary>
    public sealed record AutoTopUpDto(bool Enabled, bool Available, long? Threshold, string? Bundle, int? BundleCredits, long? BundlePriceMinor, long? MonthlyCapMinor,
        string Currency, long ChargedThisMonthMinor, long MaxMoreThisMonthMinor, DateTime ResetsAt, bool Pending, int FailuresInARow,
        bool TurnedOffAfterFailures, LastTopUpDto? Last);

    /// <summary>The latest top-up: its status, what it bought and, when it failed, Stripe's code and message.</summary>
    public sealed record LastTopUpDto(string Status, string Bundle, int Credits, long AmountMinor, string Currency, string? ErrorCode, string? Error,
        DateTime CreatedAt, DateTime? SettledAt);

    public static AutoTopUpDto Dto(AutoTopUps.View view, PlanCatalog plans, bool available)
    {
        var s = view.Settings;
        var bundle = s is null ? null : plans.Find(s.PlanKey);
        var last = view.Last is { } t
            ? new LastTopUpDto(t.Status, t.PlanKey, t.Credits, t.AmountMinor, t.Currency, t.ErrorCode, t.Error, t.CreatedAt, t.SettledAt)
            : null;
        return new AutoTopUpDto(view.Enabled, available, s?.Threshold, s?.PlanKey, bundle?.Credits, bundle?.PriceMinor, s?.MonthlyCapMinor, view.Currency,
            view.ChargedThisMonthMinor, bundle is null ? 0 : view.MaxMoreThisMonthMinor(bundle.PriceMinor), view.ResetsAt, view.Pending,
            s?.FailuresInARow ?? 0, s is { Enabled: false, DisabledReason: AutoTopUps.TurnedOffAfterFailures }, last);
    }

    public static void Map(WebApplication app) =>
        app.MapPut(Path, PutAsync).RequireAuthorization(ApiKeyScopes.Policy(ApiKeyScopes.Billing)).WithTags("Billing")
            .WithSummary("Turn auto top-up on or off, with its threshold, bundle and monthly cap")
            .WithDescription("When prepaid credits fall below `threshold`, the saved card buys `bundle` off session, at most `monthlyCapMinor` "
                + "(minor units of the bundle's currency) per calendar month (UTC). `enabled` is required; fields left out keep what was saved. "
                + "Turning it on while the operator has billing or auto top-up turned off is refused (503 `billing_disabled`); turning it off, or changing it, still works.")
            .Accepts<Request>("application/json")
            .Produces<AutoTopUpDto>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed)
            .Problems(StatusCodes.Status409Conflict, ProblemCodes.NoSavedCard)
            .Problems(StatusCodes.Status503ServiceUnavailable, ProblemCodes.BillingDisabled);

    /// <summary>The settings a request asks for; fields it leaves out keep what is stored (or the defaults).</summary>
    public sealed record Request(bool Enabled, long Threshold, string Bundle, long MonthlyCapMinor);

    /// <summary>A threshold of 5 credits, the cheapest bundle and a cap of two of it: what the form shows before anything is saved.</summary>
    public static (long Threshold, string? Bundle, long CapMinor) Defaults(AutoTopUps.Settings? stored, PlanCatalog plans)
    {
        if (stored is not null)
            return (stored.Threshold, stored.PlanKey, stored.MonthlyCapMinor);
        var cheapest = AutoTopUps.DefaultBundle(plans);
        return (5, cheapest?.Key, (cheapest?.Value.PriceMinor ?? 0) * 2);
    }

    private static async Task<IResult> PutAsync(HttpRequest request, ClaimsPrincipal user, AutoTopUps topUps, AccountSummaries summaries, PlanCatalog plans,
        PurchaseFlags flags, CancellationToken ct)
    {
        if (!request.HasJsonContentType())
            return Problems.Validation("body", "Send a JSON body with Content-Type: application/json.");
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(request.Body, cancellationToken: ct);
        }
        catch (JsonException)
        {
            return Problems.Validation("body", "The body is not valid JSON. Send { \"enabled\": true, \"threshold\": 5, \"bundle\": \"bundle_10\", \"monthlyCapMinor\": 2000 }.");
        }
        var userId = user.FindFirstValue(ClaimTypes.NameIdentifier)!;
        var stored = (await topUps.ReadAsync(userId, ct)).Settings;
        using (document)
        {
            var (body, field, message) = Read(document.RootElement, Defaults(stored, plans));
            if (body is null)
                return Problems.Validation(field!, message!);
            if (AutoTopUps.Validate(plans, body.Threshold, body.Bundle, body.MonthlyCapMinor, BillingOverview.Money) is { } invalid)
                return Problems.Validation(invalid.Field, invalid.Message);
            // Only turning it on is refused while a flag stops it: off, or a change to settings already on, buys nothing now and is kept.
            if (body.Enabled && stored?.Enabled != true && await flags.AutoTopUpOffByAsync(userId) is { } offBy)
                return Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.BillingDisabled, PurchaseFlags.AutoTopUpRefusal(offBy),
                    "Auto top-up cannot be turned on right now. Nothing was changed; turning it off or changing its settings still works.");
            if (body.Enabled && !(await summaries.GetAsync(userId, ct)).HasSavedCard)
                return Problems.Result(StatusCodes.Status409Conflict, ProblemCodes.NoSavedCard, "Auto top-up needs a saved card.",
                    "Save a card on the billing page (choose \"Pay per use\" → \"Save a card\"), then turn auto top-up on. Nothing was changed.");
            await topUps.SaveAsync(userId, body.Enabled, body.Threshold, body.Bundle, body.MonthlyCapMinor, ct);
        }
        return Results.Ok(Dto(await topUps.ReadAsync(userId, ct), plans, await flags.AutoTopUpOffByAsync(userId) is null));
    }

    /// <summary>
    /// Reads the body by hand, as <c>POST /api/v1/generations</c> does, so a wrong type or an unknown field is refused naming the
    /// field. <c>enabled</c> is required; the other fields default to what is stored.
    /// </summary>
    private static (Request? Body, string? Field, string? Message) Read(JsonElement root, (long Threshold, string? Bundle, long CapMinor) defaults)
    {
        if (root.ValueKind != JsonValueKind.Object)
            return (null, "body", "Send a JSON object: { \"enabled\": true, \"threshold\": 5, \"bundle\": \"bundle_10\", \"monthlyCapMinor\": 2000 }.");
        bool? enabled = null;
        var (threshold, bundle, cap) = defaults;
        foreach (var property in root.EnumerateObject())
        {
            switch (property.Name)
            {
                case "enabled":
                    if (property.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                        return (null, "enabled", "'enabled' must be true or false.");
                    enabled = property.Value.GetBoolean();
                    break;
                case "threshold":
                    if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt64(out threshold))
                        return (null, "threshold", "'threshold' must be a whole number of credits.");
                    break;
                case "bundle":
                    if (property.Value.ValueKind != JsonValueKind.String)
                        return (null, "bundle", "'bundle' must be the key of a bundle, like \"bundle_10\".");
                    bundle = property.Value.GetString();
                    break;
                case "monthlyCapMinor":
                    if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt64(out cap))
                        return (null, "monthlyCapMinor", "'monthlyCapMinor' must be a whole number of minor units (cents), like 2000 for 20.00.");
                    break;
                default:
                    return (null, property.Name, $"'{property.Name}' is not a field of this request; send 'enabled', 'threshold', 'bundle' and 'monthlyCapMinor'.");
            }
        }
        if (enabled is null)
            return (null, "enabled", "'enabled' is required: true turns auto top-up on, false turns it off.");
        if (bundle is null)
            return (null, "bundle", "'bundle' is required: the key of the bundle auto top-up buys, like \"bundle_10\".");
        return (new Request(enabled.Value, threshold, bundle, cap), null, null);
    }
}
