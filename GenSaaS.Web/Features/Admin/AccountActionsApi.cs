using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// The account actions of <see cref="AccountActions"/> as JSON under <c>/api/v1/admin/customers/{userId}/…</c>: confirm-email,
/// lock, unlock, promote, demote (POST) and key revocation (DELETE), each with a required reason, each one audit entry. A
/// repeat finds the account already so and answers <c>changed: false</c> without a second entry.
/// </summary>
public static class AccountActionsApi
{
    public sealed record AccountStateDto(bool EmailConfirmed, bool Locked, string? LockedUntil, bool Admin, long LiveApiKeys);

    /// <summary>What an action came to: <c>changed</c> false when the account already was so (nothing written).</summary>
    public sealed record AccountActionDto(string Object, string Customer, string Action, bool Changed, string Message, string? AuditId, AccountStateDto? State);

    /// <summary>The request body: <c>{ "reason": "..." }</c>.</summary>
    public sealed record ReasonBody(string Reason);

    public static void Map(WebApplication app)
    {
        var admin = app.MapGroup("/api/v1/admin/customers/{userId}").RequireAuthorization(ApiKeyScopes.Policy(ApiKeyScopes.Admin), Roles.Admin);
        foreach (var (action, summary) in new[]
                 {
                     (AccountChange.ConfirmEmail, "Mark a customer's email address as confirmed"),
                     (AccountChange.Lock, "Lock an account: sessions end, sign-in and API keys are refused until unlocked"),
                     (AccountChange.Unlock, "Unlock an account (an admin's lock or a failed-password lockout)"),
                     (AccountChange.Promote, "Make a customer an admin"),
                     (AccountChange.Demote, "Revoke a customer's admin role; their sessions end"),
                 })
        {
            var route = admin.MapPost($"/{AccountActions.Slug(action)}",
                    (string userId, HttpRequest request, ClaimsPrincipal user, AccountActions actions, CancellationToken ct) =>
                        RunAsync(action, userId, null, request, user, actions, ct))
                .WithTags("Admin")
                .WithSummary(summary)
                .WithDescription("Body { \"reason\": \"...\" }. One audit entry with the account before and after; a repeat answers changed: false and writes nothing.");
            Document(route, action);
        }
        Document(admin.MapDelete("/api-keys/{keyId}",
                (string userId, string keyId, HttpRequest request, ClaimsPrincipal user, AccountActions actions, CancellationToken ct) =>
                    RunAsync(AccountChange.RevokeApiKey, userId, keyId, request, user, actions, ct))
            .WithTags("Admin")
            .WithSummary("Revoke one of a customer's API keys")
            .WithDescription("The reason as a JSON body { \"reason\": \"...\" } or the query parameter reason. Revoking cannot be undone."),
            AccountChange.RevokeApiKey);
        Document(admin.MapDelete("/api-keys",
                (string userId, HttpRequest request, ClaimsPrincipal user, AccountActions actions, CancellationToken ct) =>
                    RunAsync(AccountChange.RevokeAllApiKeys, userId, null, request, user, actions, ct))
            .WithTags("Admin")
            .WithSummary("Revoke every live API key of a customer")
            .WithDescription("The reason as a JSON body { \"reason\": \"...\" } or the query parameter reason. Revoking cannot be undone."),
            AccountChange.RevokeAllApiKeys);
    }

    private static void Document(RouteHandlerBuilder route, AccountChange action)
    {
        route.Accepts<ReasonBody>("application/json")
            .Produces<AccountActionDto>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, ProblemCodes.ParameterUnknown)
            .Problems(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden)
            .Problems(StatusCodes.Status404NotFound, ProblemCodes.NotFound);
        if (action is AccountChange.Lock or AccountChange.Demote)
            route.Problems(StatusCodes.Status409Conflict, ProblemCodes.OwnAccount, ProblemCodes.LastAdmin);
    }

    /// <summary>Reads <c>{ "reason": "..." }</c> by hand, so a wrong type or an unknown field names the field; a DELETE may send <c>?reason=</c> instead.</summary>
    private static async Task<(string? Reason, IResult? Problem)> ReadReasonAsync(HttpRequest request, CancellationToken ct)
    {
        var unknown = request.Query.Keys.FirstOrDefault(k => k != "reason" || HttpMethods.IsPost(request.Method));
        if (unknown is not null)
            return (null, Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ParameterUnknown, "The request is not valid.",
                $"Received unknown parameter: {unknown}. Send the reason in the JSON body.",
                new Dictionary<string, string[]> { [unknown] = ["Unknown parameter."] }));
        string? reason = null;
        if (HttpMethods.IsDelete(request.Method) && request.Query.ContainsKey("reason"))
            reason = request.Query["reason"].ToString();
        else if (!request.HasJsonContentType())
            return (null, Problems.Validation("body", "Send a JSON body { \"reason\": \"...\" } with Content-Type: application/json."));
        else
        {
            try
            {
                using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: ct);
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                    return (null, Problems.Validation("body", "Send a JSON object: { \"reason\": \"...\" }."));
                foreach (var property in document.RootElement.EnumerateObject())
                {
                    if (property.Name != "reason")
                        return (null, Problems.Validation(property.Name, $"'{property.Name}' is not a field of this request; send only 'reason'."));
                    if (property.Value.ValueKind != JsonValueKind.String)
                        return (null, Problems.Validation("reason", "'reason' must be a string."));
                    reason = property.Value.GetString();
                }
            }
            catch (JsonException)
            {
                return (null, Problems.Validation("body", "The body is not valid JSON. Send { \"reason\": \"...\" }."));
            }
        }
        if (AccountActions.ReasonProblem(reason) is { } problem)
            return (null, Problems.Validation("reason", $"'reason' is required and at most {AccountActions.MaxReasonLength} characters: {problem}"));
        return (reason!.Trim(), null);
    }

    private static async Task<IResult> RunAsync(AccountChange action, string userId, string? keyId, HttpRequest request, ClaimsPrincipal user,
        AccountActions actions, CancellationToken ct)
    {
        var (reason, problem) = await ReadReasonAsync(request, ct);
        if (problem is not null)
            return problem;
        var outcome = await actions.RunAsync(AuditActor.From(user), userId, action, reason!, keyId, ct);
        return outcome.Status switch
        {
            AccountActionStatus.NotFound => Problems.Result(StatusCodes.Status404NotFound, ProblemCodes.NotFound,
                keyId is null ? "No such customer." : "No such API key.", outcome.Message),
            AccountActionStatus.Refused => Problems.Result(StatusCodes.Status409Conflict, outcome.Code!, "Refused: nothing changed.", outcome.Message),
            _ => Results.Ok(new AccountActionDto("account_action", userId, AccountActions.AuditAction(action), outcome.Status == AccountActionStatus.Applied,
                outcome.Message, outcome.AuditId is { } id ? AuditLog.IdPrefix + id.ToString(CultureInfo.InvariantCulture) : null,
                outcome.After is { } s ? new AccountStateDto(s.EmailConfirmed, s.Locked, s.LockedUntil, s.Admin, s.LiveApiKeys) : null)),
        };
    }
}
