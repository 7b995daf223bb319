using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Admin;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Features.Flags;

/// <summary>
/// <c>GET /api/v1/admin/flags</c> and <c>PUT /api/v1/admin/flags/{name}</c>: the feature flags for an admin's key with the
/// <c>admin</c> scope (or an admin's session). A change is one audit entry, written with it; a read is audited as <c>api.read</c>.
/// </summary>
public static class FlagsApi
{
    public sealed record AccountDto(string Id, string? Email);

    public sealed record FlagDto(string Object, string Name, string Title, string WhenOff, bool Enabled, int Percentage, IReadOnlyList<AccountDto> Accounts,
        string? Message, bool Stored, long Version, DateTime? UpdatedAt, string? UpdatedBy);

    public sealed record FlagChangeDto(string Object, FlagDto Flag, bool Changed, string? AuditId);

    /// <summary>The body of a change, as documented; a field left out keeps its value.</summary>
    public sealed record SetFlagBody(bool? Enabled, int? Percentage, IReadOnlyList<string>? Accounts, string? Message, string Reason);

    public static void Map(WebApplication app)
    {
        var admin = app.MapGroup("/api/v1/admin/flags").RequireAuthorization(ApiKeyScopes.Policy(ApiKeyScopes.Admin), Roles.Admin);
        admin.MapGet("", ListAsync).WithTags("Admin")
            .WithSummary("Every feature flag: on or off, the rollout percentage, the listed accounts and the operator's message")
            .WithDescription("A flag that was never set is on for everyone (stored: false): the configured behaviour.")
            .Produces<BillingApi.ListDto<FlagDto>>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ParameterUnknown)
            .Problems(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden);
        admin.MapPut("/{name}", SetAsync).WithTags("Admin")
            .WithSummary("Change a feature flag, with a reason")
            .WithDescription("Fields left out keep their value; percentage null means everyone, accounts are emails or user ids. " +
                             "One audit entry with the flag before and after; a change that changes nothing writes none.")
            .Accepts<SetFlagBody>("application/json")
            .Produces<FlagChangeDto>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed)
            .Problems(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden)
            .Problems(StatusCodes.Status404NotFound, ProblemCodes.UnknownFlag);
    }

    public static async Task<FlagDto> ToDtoAsync(FlagState s, FlagAccounts accounts, CancellationToken ct)
    {
        var info = FlagNames.Find(s.Name)!;
        var listed = await accounts.DescribeAsync(s.Accounts, ct);
        return new FlagDto("feature_flag", s.Name, info.Title, info.WhenOff, s.Enabled, s.Percentage, listed.Select(a => new AccountDto(a.Id, a.Email)).ToList(),
            s.Message, s.Stored, s.Version, s.UpdatedAt, s.UpdatedBy);
    }

    private static async Task<IResult> ListAsync(HttpRequest request, ClaimsPrincipal user, FlagStore store, FlagAccounts accounts, AuditLog audit,
        CancellationToken ct)
    {
        if (request.Query.Keys.FirstOrDefault() is { } unknown)
            return Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ParameterUnknown, "The request is not valid.",
                $"Received unknown parameter: {unknown}. This route takes none.",
                new Dictionary<string, string[]> { [unknown] = ["Unknown parameter."] });
        var flags = new List<FlagDto>();
        foreach (var flag in await store.ReadAllAsync(ct))
            flags.Add(await ToDtoAsync(flag, accounts, ct));
        await audit.AppendAsync(AuditActor.From(user), AuditActions.ApiRead, null, null, null, new { Route = $"{request.Method} {request.Path}" }, ct);
        return Results.Ok(new BillingApi.ListDto<FlagDto>("list", "/api/v1/admin/flags", flags, false));
    }

    private sealed record SetRequest(FlagUpdate Update, IReadOnlyList<string>? Accounts, string Reason);

    /// <summary>Reads the body by hand, so a wrong type or a missing reason names its field.</summary>
    private static (SetRequest? Request, string? Field, string? Message) Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            return (null, "body", "Send a JSON object: { \"enabled\": false, \"reason\": \"...\" }.");
        bool? enabled = null;
        int? percentage = null;
        List<string>? accounts = null;
        string? message = null;
        var messageGiven = false;
        string? reason = null;
        foreach (var p in root.EnumerateObject())
        {
            switch (p.Name)
            {
                case "enabled":
                    if (p.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                        return (null, "enabled", "'enabled' must be true or false.");
                    enabled = p.Value.GetBoolean();
                    break;
                case "percentage":
                    if (p.Value.ValueKind == JsonValueKind.Null)
                        percentage = 100;
                    else if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var n) || n is < 0 or > 100)
                        return (null, "percentage", "'percentage' must be a whole number from 0 to 100 (null: everyone).");
                    else
                        percentage = n;
                    break;
                case "accounts":
                    if (p.Value.ValueKind == JsonValueKind.Null)
                    {
                        accounts = [];
                        break;
                    }
                    if (p.Value.ValueKind != JsonValueKind.Array || p.Value.EnumerateArray().Any(a => a.ValueKind != JsonValueKind.String))
                        return (null, "accounts", "'accounts' must be an array of emails or user ids.");
                    accounts = p.Value.EnumerateArray().Select(a => a.GetString()!.Trim()).Where(a => a.Length > 0).ToList();
                    if (accounts.Count > FlagStore.MaxAccounts)
                        return (null, "accounts", $"'accounts' may list at most {FlagStore.MaxAccounts} accounts.");
                    break;
                case "message":
                    if (p.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                        return (null, "message", "'message' must be a string or null.");
                    message = p.Value.GetString();
                    messageGiven = true;
                    if (message is { Length: > FlagStore.MaxMessageLength })
                        return (null, "message", $"'message' must be at most {FlagStore.MaxMessageLength} characters.");
                    break;
                case "reason":
                    if (p.Value.ValueKind != JsonValueKind.String)
                        return (null, "reason", "'reason' must be a string.");
                    reason = p.Value.GetString();
                    break;
                default:
                    return (null, p.Name, $"'{p.Name}' is not a field of this request; send enabled, percentage, accounts, message and reason.");
            }
        }
        if (string.IsNullOrWhiteSpace(reason))
            return (null, "reason", "'reason' is required: say why, for the audit log.");
        if (reason.Trim().Length > FlagStore.MaxReasonLength)
            return (null, "reason", $"'reason' must be at most {FlagStore.MaxReasonLength} characters.");
        return (new SetRequest(new FlagUpdate(enabled, percentage, null, message, messageGiven), accounts, reason.Trim()), null, null);
    }

    private static async Task<IResult> SetAsync(string name, HttpRequest request, ClaimsPrincipal user, FlagStore store, FlagAccounts accounts,
        CancellationToken ct)
    {
        if (FlagNames.Find(name) is null)
            return Problems.Result(StatusCodes.Status404NotFound, ProblemCodes.UnknownFlag, "No such feature flag.",
                $"There is no flag '{name}'. The flags are: {string.Join(", ", FlagNames.All.Select(f => f.Name))}.");
        if (!request.HasJsonContentType())
            return Problems.Validation("body", "Send a JSON body with Content-Type: application/json.");
        SetRequest? body;
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: ct);
            (body, var field, var message) = Read(document.RootElement);
            if (body is null)
                return Problems.Validation(field!, message!);
        }
        catch (JsonException)
        {
            return Problems.Validation("body", "The body is not valid JSON. Send { \"enabled\": false, \"reason\": \"...\" }.");
        }
        var update = body.Update;
        if (body.Accounts is { } given)
        {
            var (ids, unknown) = await accounts.ResolveAsync(given, ct);
            if (unknown.Count > 0)
                return Problems.Validation("accounts", $"No account has the email or id: {string.Join(", ", unknown.Take(10))}.");
            update = update with { Accounts = ids };
        }
        var outcome = await store.SetAsync(AuditActor.From(user), name, update, body.Reason, null, ct);
        return Results.Ok(new FlagChangeDto("feature_flag_change", await ToDtoAsync(outcome.After, accounts, ct), outcome.Status == FlagSetStatus.Changed,
            outcome.AuditId is { } id ? AuditLog.IdPrefix + id.ToString(System.Globalization.CultureInfo.InvariantCulture) : null));
    }
}
