using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// <c>/api/v1/admin/…</c>: the admin console's reads and actions as JSON, for an API key with the <c>admin</c> scope that belongs
/// to an admin (or an admin's session). Every call is audited: an action in its own transaction, a read as <c>api.read</c>.
/// </summary>
public static class AdminApi
{
    public const int DefaultLimit = 10;

    public static void Map(WebApplication app)
    {
        // Both: the key must carry the admin scope (else 403 insufficient_scope) and its owner must be an admin (else 403 forbidden).
        var admin = app.MapGroup("/api/v1/admin").RequireAuthorization(ApiKeyScopes.Policy(ApiKeyScopes.Admin), Roles.Admin);
        admin.MapGet("/audit", ListAudit).WithTags("Admin")
            .WithSummary("The audit log, newest first")
            .WithDescription("Every admin and operator action. Filters: actor, action, target, from and to (UTC days, yyyy-MM-dd). Cursor-paged.")
            .CursorPaged("audit entry")
            .Produces<BillingApi.ListDto<AuditEntryDto>>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, ProblemCodes.ResourceMissing, ProblemCodes.ParameterUnknown)
            .Problems(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden);
        admin.MapGet("/customers", ListCustomers).WithTags("Admin")
            .WithSummary("Customers, newest sign-up first; search by email, name or Stripe customer id")
            .WithDescription("query: a prefix of the email or user name (any case), of a Stripe customer id, or a user id; plan and status filter. Cursor-paged by customer id.")
            .CursorPaged("customer")
            .Produces<BillingApi.ListDto<CustomerDto>>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, ProblemCodes.ResourceMissing, ProblemCodes.ParameterUnknown)
            .Problems(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden);
        admin.MapGet("/customers/{userId}", GetCustomer).WithTags("Admin")
            .WithSummary("One customer: balances, plan, card, API keys, recent ledger lines and the newest page of the timeline")
            .Produces<CustomerDetailDto>()
            .Problems(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden)
            .Problems(StatusCodes.Status404NotFound, ProblemCodes.NotFound);
        admin.MapGet("/customers/{userId}/timeline", GetTimeline).WithTags("Admin")
            .WithSummary("A customer's timeline, newest first: sign-up, ledger lines, payments, generations, webhook events, admin actions")
            .CursorPaged("timeline page's cursor (timeline.next)")
            .Produces<TimelineDto>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, ProblemCodes.ResourceMissing, ProblemCodes.ParameterUnknown)
            .Problems(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden)
            .Problems(StatusCodes.Status404NotFound, ProblemCodes.NotFound);
        admin.MapPost("/customers/{userId}/credits", AdjustCredits).WithTags("Admin")
            .WithSummary("Grant or take back a customer's credits, with a reason")
            .WithDescription("A positive amount grants, a negative one takes back (never below zero). One ledger line of kind adjustment and one audit entry.")
            .Accepts<AdjustCreditsBody>("application/json")
            .Header("Idempotency-Key", "Optional: a retry with the same key answers the first adjustment instead of making a second.")
            .Produces<AdjustmentDto>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed)
            .Problems(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden)
            .Problems(StatusCodes.Status404NotFound, ProblemCodes.NotFound)
            .Problems(StatusCodes.Status409Conflict, ProblemCodes.InsufficientCredits, ProblemCodes.IdempotencyConflict);
        admin.MapPost("/payments/{paymentId}/refund", RefundPayment).WithTags("Admin")
            .WithSummary("Refund a payment, fully or in part, with a reason")
            .WithDescription("amount in minor units (omit: all that remains). Through Stripe with an idempotency key; a bundle's refunded share of credits is taken back. One audit entry payment.refund.")
            .Accepts<RefundPaymentBody>("application/json")
            .Header("Idempotency-Key", "Optional: a retry with the same key answers the first refund instead of making a second.")
            .Produces<RefundDto>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed)
            .Problems(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden)
            .Problems(StatusCodes.Status404NotFound, ProblemCodes.NotFound)
            .Problems(StatusCodes.Status409Conflict, ProblemCodes.RefundTooLarge, ProblemCodes.NotRefundable, ProblemCodes.IdempotencyConflict)
            .Problems(StatusCodes.Status503ServiceUnavailable, ProblemCodes.StripeUnavailable, ProblemCodes.BillingDisabled);
        admin.MapGet("/events", ListEvents).WithTags("Admin")
            .WithSummary("Stripe events as received, newest first; search by type, object, customer, failed")
            .WithDescription("type: an event type; object: the id of the event's object; customer: a Stripe customer id, an email or a user id; failed=true: only events that failed to apply. Cursor-paged by event id.")
            .CursorPaged("event")
            .Produces<BillingApi.ListDto<StripeEventDto>>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, ProblemCodes.ResourceMissing, ProblemCodes.ParameterUnknown)
            .Problems(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden);
    }

    // ---- query parameters ----

    private static IResult? RefuseUnknown(HttpRequest request, IReadOnlyList<string> known) =>
        request.Query.Keys.FirstOrDefault(k => !known.Contains(k, StringComparer.Ordinal)) is { } unknown
            ? Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ParameterUnknown, "The request is not valid.",
                $"Received unknown parameter: {unknown}. This route takes {string.Join(", ", known.Select(k => $"'{k}'"))}.",
                new Dictionary<string, string[]> { [unknown] = ["Unknown parameter."] })
            : null;

    private static int Limit(HttpRequest request) =>
        int.TryParse(request.Query["limit"], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var given) ? given : DefaultLimit;

    private static string? Text(HttpRequest request, string name) =>
        request.Query[name].ToString() is { Length: > 0 } value ? value.Trim() : null;

    /// <summary>Reads <c>yyyy-MM-dd</c>; a value that is not one is a problem naming the parameter.</summary>
    public static bool TryDate(string? text, out DateOnly? date)
    {
        date = null;
        if (string.IsNullOrWhiteSpace(text))
            return true;
        if (!DateOnly.TryParseExact(text.Trim(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d))
            return false;
        date = d;
        return true;
    }

    private static object ReadRecord(HttpRequest request) => new { Route = $"{request.Method} {request.Path}", Query = request.QueryString.Value };

    // ---- GET /api/v1/admin/audit ----

    public sealed record AuditEntryDto(string Id, string Object, DateTime At, string Actor, string ActorKind, string Action, string? Target, string? Reason,
        JsonElement? Before, JsonElement? After);

    private static readonly string[] AuditParameters = ["actor", "action", "target", "from", "to", "limit", "starting_after"];

    public static AuditEntryDto ToDto(AuditEntry e) =>
        new(e.PublicId, "audit_entry", e.At, e.Actor, e.ActorKind, e.Action, e.Target, e.Reason, ParseJson(e.Before), ParseJson(e.After));

    private static JsonElement? ParseJson(string? json)
    {
        if (json is null)
            return null;
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static async Task<IResult> ListAudit(HttpRequest request, ClaimsPrincipal user, AuditLog audit, CancellationToken ct)
    {
        if (RefuseUnknown(request, AuditParameters) is { } unknown)
            return unknown;
        if (!TryDate(Text(request, "from"), out var from))
            return Problems.Validation("from", "'from' must be a date, yyyy-MM-dd (UTC).");
        if (!TryDate(Text(request, "to"), out var to))
            return Problems.Validation("to", "'to' must be a date, yyyy-MM-dd (UTC).");
        long? before = null;
        if (Text(request, "starting_after") is { } after)
        {
            before = AuditLog.ParseId(after);
            if (before is null)
                return Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ResourceMissing, "The request is not valid.",
                    $"No such audit entry: '{after}'. Pass the id of the last entry of the previous page.",
                    new Dictionary<string, string[]> { ["starting_after"] = ["No such audit entry."] });
        }
        var filter = new AuditFilter(Text(request, "actor"), Text(request, "action"), Text(request, "target"), from, to);
        var (entries, hasMore) = await audit.PageAsync(filter, Limit(request), before, ct);
        await audit.AppendAsync(AuditActor.From(user), AuditActions.ApiRead, null, null, null, ReadRecord(request), ct);
        return Results.Ok(new BillingApi.ListDto<AuditEntryDto>("list", "/api/v1/admin/audit", entries.Select(ToDto).ToList(), hasMore));
    }

    // ---- customers ----

    public sealed record CustomerDto(string Id, string Object, string? Email, string? Name, DateTime CreatedAt, string Status, bool EmailConfirmed,
        string Plan, long TrialCredits, long PrepaidCredits, string? StripeCustomerId);

    public static CustomerDto ToDto(CustomerRow c, DateTime now) =>
        new(c.Id, "customer", c.Email, c.UserName, c.CreatedAt, c.StatusAt(now), c.EmailConfirmed, c.Plan, c.TrialCredits, c.PrepaidCredits, c.StripeCustomerId);

    private static readonly string[] CustomerListParameters = ["query", "plan", "status", "limit", "starting_after"];

    private static async Task<IResult> ListCustomers(HttpRequest request, ClaimsPrincipal user, CustomerDirectory directory, AuditLog audit,
        TimeProvider clock, CancellationToken ct)
    {
        if (RefuseUnknown(request, CustomerListParameters) is { } unknown)
            return unknown;
        var plan = Text(request, "plan");
        if (plan is not null && !CustomerQuery.Plans.Contains(plan))
            return Problems.Validation("plan", $"'plan' must be one of {string.Join(", ", CustomerQuery.Plans)}.");
        var status = Text(request, "status");
        if (status is not null && !CustomerQuery.Statuses.Contains(status))
            return Problems.Validation("status", $"'status' must be one of {string.Join(", ", CustomerQuery.Statuses)}.");
        var query = Text(request, "query");
        if (query is { Length: > 320 })
            return Problems.Validation("query", "'query' must be at most 320 characters.");
        string? afterCreatedAt = null;
        var startingAfter = Text(request, "starting_after");
        if (startingAfter is not null && (afterCreatedAt = await directory.CursorAsync(startingAfter, ct)) is null)
            return Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ResourceMissing, "The request is not valid.",
                $"No such customer: '{startingAfter}'. Pass the id of the last customer of the previous page.",
                new Dictionary<string, string[]> { ["starting_after"] = ["No such customer."] });
        var (rows, hasMore) = await directory.PageAsync(new CustomerQuery(query, plan, status), Limit(request), afterCreatedAt, startingAfter, ct);
        await audit.AppendAsync(AuditActor.From(user), AuditActions.ApiRead, null, null, null, ReadRecord(request), ct);
        var now = clock.GetUtcNow().UtcDateTime;
        return Results.Ok(new BillingApi.ListDto<CustomerDto>("list", "/api/v1/admin/customers", rows.Select(r => ToDto(r, now)).ToList(), hasMore));
    }

    public sealed record SubscriptionDto(string Id, string Plan, string Status, DateTime? CurrentPeriodEnd, bool CancelAtPeriodEnd);

    public sealed record CardDto(string? Brand, string? Last4, string? Expires);

    public sealed record ApiKeyDto(string Id, string Name, string Prefix, string Scopes, DateTime CreatedAt, DateTime? LastUsedAt, DateTime? RevokedAt);

    public sealed record LedgerLineDto(string Id, DateTime CreatedAt, string Kind, string Bucket, long Amount, long BalanceAfter, string Reason, string? Reference, string Actor);

    public sealed record TimelineItemDto(string Id, string Object, string Kind, DateTime At, string Title, string? Detail);

    public sealed record TimelineDto(string Object, IReadOnlyList<TimelineItemDto> Data, [property: System.Text.Json.Serialization.JsonPropertyName("has_more")] bool HasMore, string? Next);

    public sealed record CustomerDetailDto(string Id, string Object, string? Email, string? Name, DateTime CreatedAt, string Status, bool EmailConfirmed,
        IReadOnlyList<string> Roles, string Plan, long TrialCredits, long PrepaidCredits, string? StripeCustomerId, SubscriptionDto? Subscription,
        CardDto? Card, IReadOnlyList<ApiKeyDto> ApiKeys, IReadOnlyList<LedgerLineDto> RecentLedger, TimelineDto Timeline);

    public static TimelineDto ToDto(TimelinePage page) =>
        new("list", page.Items.Select(i => new TimelineItemDto(i.Id, "timeline_item", i.Kind, i.At, i.Title, i.Detail)).ToList(), page.HasMore, page.Next);

    private static IResult NoSuchCustomer(string userId) =>
        Problems.Result(StatusCodes.Status404NotFound, ProblemCodes.NotFound, "No such customer.", $"No customer has the id '{userId}'.");

    private static async Task<IResult> GetCustomer(string userId, HttpRequest request, ClaimsPrincipal user, CustomerDetails details, CustomerTimeline timeline,
        AuditLog audit, TimeProvider clock, CancellationToken ct)
    {
        if (RefuseUnknown(request, []) is { } unknown)
            return unknown;
        if (await details.GetAsync(userId, ct) is not { } d)
            return NoSuchCustomer(userId);
        var page = await timeline.PageAsync(userId, DefaultLimit, null, ct);
        await audit.AppendAsync(AuditActor.From(user), AuditActions.ApiRead, userId, null, null, ReadRecord(request), ct);
        var c = d.Customer;
        var s = d.Standing;
        return Results.Ok(new CustomerDetailDto(c.Id, "customer", c.Email, c.UserName, c.CreatedAt, c.StatusAt(clock.GetUtcNow().UtcDateTime), c.EmailConfirmed,
            d.Roles, c.Plan, c.TrialCredits, c.PrepaidCredits, c.StripeCustomerId,
            s.Subscription is { } sub ? new SubscriptionDto(sub.Id, sub.PlanKey, sub.Status, sub.PeriodEnd, sub.CancelAtPeriodEnd) : null,
            s.CardLast4 is not null ? new CardDto(s.CardBrand, s.CardLast4, s.CardExpires) : null,
            d.ApiKeys.Select(k => new ApiKeyDto(k.Id, k.Name, k.Prefix, k.Scopes, k.CreatedAt, k.LastUsedAt, k.RevokedAt)).ToList(),
            d.RecentLedger.Select(l => new LedgerLineDto(BillingApi.LedgerIdPrefix + l.Id.ToString(CultureInfo.InvariantCulture), l.CreatedAt, l.Kind, l.Bucket,
                l.Amount, l.BalanceAfter, l.Reason, l.Reference, l.Actor)).ToList(),
            ToDto(page!)));
    }

    private static readonly string[] TimelineParameters = ["limit", "starting_after"];

    private static async Task<IResult> GetTimeline(string userId, HttpRequest request, ClaimsPrincipal user, CustomerDirectory directory,
        CustomerTimeline timeline, AuditLog audit, CancellationToken ct)
    {
        if (RefuseUnknown(request, TimelineParameters) is { } unknown)
            return unknown;
        if (await directory.FindAsync(userId, ct) is null)
            return NoSuchCustomer(userId);
        var page = await timeline.PageAsync(userId, Limit(request), Text(request, "starting_after"), ct);
        if (page is null)
            return Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ResourceMissing, "The request is not valid.",
                "That is not a timeline cursor. Pass the 'next' of the previous page.",
                new Dictionary<string, string[]> { ["starting_after"] = ["Not a timeline cursor."] });
        await audit.AppendAsync(AuditActor.From(user), AuditActions.ApiRead, userId, null, null, ReadRecord(request), ct);
        return Results.Ok(ToDto(page));
    }

    // ---- POST /api/v1/admin/customers/{userId}/credits ----

    public sealed record AdjustmentDto(string Object, string Customer, string Bucket, int Amount, string Reason, long TrialCredits, long PrepaidCredits,
        string? LedgerLineId, string? AuditId, bool Replayed);

    /// <summary>The request body, as documented: <c>amount</c> (positive grants, negative takes back), <c>reason</c>, <c>bucket</c> (prepaid or trial).</summary>
    public sealed record AdjustCreditsBody(int Amount, string Reason, string? Bucket);

    private sealed record AdjustRequest(int Amount, string Reason, CreditBucket Bucket);

    /// <summary>Reads <c>{ "amount": N, "reason": "...", "bucket": "prepaid" }</c> by hand, so a wrong type or a missing field names the field.</summary>
    /// <summary>
    /// Reads a JSON body with <paramref name="read"/>: the body, or the 400 <c>validation_failed</c> answer that names what is
    /// wrong (not JSON, invalid JSON with an <paramref name="example"/>, or the field <paramref name="read"/> refused).
    /// </summary>
    private static async Task<(T? Body, IResult? Invalid)> ReadJsonBodyAsync<T>(HttpRequest request,
        Func<JsonElement, (T? Body, string? Field, string? Message)> read, string example, CancellationToken ct) where T : class
    {
        if (!request.HasJsonContentType())
            return (null, Problems.Validation("body", "Send a JSON body with Content-Type: application/json."));
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: ct);
            var (body, field, message) = read(document.RootElement);
            return body is null ? (null, Problems.Validation(field!, message!)) : (body, null);
        }
        catch (JsonException)
        {
            return (null, Problems.Validation("body", $"The body is not valid JSON. Send {example}."));
        }
    }

    private static (AdjustRequest? Body, string? Field, string? Message) ReadAdjustRequest(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            return (null, "body", "Send a JSON object: { \"amount\": 10, \"reason\": \"...\" }.");
        long? amount = null;
        string? reason = null;
        var bucket = CreditBucket.Prepaid;
        foreach (var property in root.EnumerateObject())
        {
            switch (property.Name)
            {
                case "amount":
                    if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt64(out var whole))
                        return (null, "amount", "'amount' must be a whole number of credits: positive grants, negative takes back.");
                    amount = whole;
                    break;
                case "reason":
                    if (property.Value.ValueKind != JsonValueKind.String)
                        return (null, "reason", "'reason' must be a string.");
                    reason = property.Value.GetString();
                    break;
                case "bucket":
                    if (property.Value.ValueKind != JsonValueKind.String || property.Value.GetString() is not ("prepaid" or "trial"))
                        return (null, "bucket", "'bucket' must be \"prepaid\" (the default) or \"trial\".");
                    bucket = property.Value.GetString() == "trial" ? CreditBucket.Trial : CreditBucket.Prepaid;
                    break;
                default:
                    return (null, property.Name, $"'{property.Name}' is not a field of this request; send 'amount', 'reason' and optionally 'bucket'.");
            }
        }
        if (amount is null)
            return (null, "amount", "'amount' is required: a whole number of credits, positive grants, negative takes back.");
        if (amount == 0 || Math.Abs(amount.Value) > CreditAdjustments.MaxAmount)
            return (null, "amount", $"'amount' must be from -{CreditAdjustments.MaxAmount} to {CreditAdjustments.MaxAmount}, and not 0.");
        if (string.IsNullOrWhiteSpace(reason))
            return (null, "reason", "'reason' is required: say why, for the audit log and the customer's ledger.");
        if (reason.Trim().Length > CreditAdjustments.MaxReasonLength)
            return (null, "reason", $"'reason' must be at most {CreditAdjustments.MaxReasonLength} characters.");
        return (new AdjustRequest((int)amount.Value, reason.Trim(), bucket), null, null);
    }

    private static async Task<IResult> AdjustCredits(string userId, HttpRequest request, ClaimsPrincipal user, UserManager<IdentityUser> users,
        CreditAdjustments adjustments, CancellationToken ct)
    {
        var (body, invalid) = await ReadJsonBodyAsync(request, ReadAdjustRequest, "{ \"amount\": 10, \"reason\": \"...\" }", ct);
        if (body is null)
            return invalid!;
        var customer = await users.FindByIdAsync(userId);
        if (customer is null)
            return Problems.Result(StatusCodes.Status404NotFound, ProblemCodes.NotFound, "No such customer.", $"No customer has the id '{userId}'.");

        var actor = AuditActor.From(user);
        var key = request.Headers["Idempotency-Key"].FirstOrDefault();
        if (key is { Length: > 255 })
            return Problems.Validation("Idempotency-Key", "The Idempotency-Key header must be at most 255 characters.");
        // A key is the caller's own: the reference carries the actor, so two admins' keys never meet.
        var reference = key is { Length: > 0 } ? $"admin-api:{actor.Id}:{key}" : $"admin-api:{Guid.CreateVersion7():N}";
        var outcome = await adjustments.AdjustAsync(actor, customer.Id, body.Bucket, body.Amount, body.Reason, reference, ct);
        return outcome.Status switch
        {
            AdjustStatus.BelowZero => Problems.Result(StatusCodes.Status409Conflict, ProblemCodes.InsufficientCredits,
                "The balance cannot go below zero.", outcome.Message),
            AdjustStatus.Conflict => Problems.Result(StatusCodes.Status409Conflict, ProblemCodes.IdempotencyConflict,
                "This Idempotency-Key was used for another request.", outcome.Message),
            _ => Results.Ok(new AdjustmentDto("credit_adjustment", customer.Id, CreditLedger.BucketName(body.Bucket), body.Amount, body.Reason,
                outcome.Trial, outcome.Prepaid,
                outcome.LedgerLineId is { } line ? BillingApi.LedgerIdPrefix + line.ToString(CultureInfo.InvariantCulture) : null,
                outcome.AuditId is { } a ? AuditLog.IdPrefix + a.ToString(CultureInfo.InvariantCulture) : null,
                outcome.Status == AdjustStatus.Replayed)),
        };
    }

    // ---- POST /api/v1/admin/payments/{paymentId}/refund ----

    public sealed record RefundDto(string Object, string Payment, string? Customer, string Refund, long Amount, string Currency, string Status,
        long PaymentAmount, long RefundedTotal, long Remaining, int CreditsTakenBack, long TrialCredits, long PrepaidCredits, string? AuditId, bool Replayed);

    /// <summary>The request body, as documented: <c>amount</c> (minor units; omitted: all that remains) and <c>reason</c>.</summary>
    public sealed record RefundPaymentBody(long? Amount, string Reason);

    /// <summary>Reads <c>{ "amount": N, "reason": "..." }</c> by hand, so a wrong type or a missing field names the field.</summary>
    private static (RefundPaymentBody? Body, string? Field, string? Message) ReadRefundRequest(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            return (null, "body", "Send a JSON object: { \"amount\": 200, \"reason\": \"...\" } (amount optional).");
        long? amount = null;
        string? reason = null;
        foreach (var property in root.EnumerateObject())
        {
            switch (property.Name)
            {
                case "amount":
                    if (property.Value.ValueKind == JsonValueKind.Null)
                        break;
                    if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt64(out var whole) || whole <= 0)
                        return (null, "amount", "'amount' must be a positive whole number of minor units (200 is 2.00), or left out to refund all that remains.");
                    amount = whole;
                    break;
                case "reason":
                    if (property.Value.ValueKind != JsonValueKind.String)
                        return (null, "reason", "'reason' must be a string.");
                    reason = property.Value.GetString();
                    break;
                default:
                    return (null, property.Name, $"'{property.Name}' is not a field of this request; send 'reason' and optionally 'amount'.");
            }
        }
        if (string.IsNullOrWhiteSpace(reason))
            return (null, "reason", "'reason' is required: say why, for the audit log.");
        if (reason.Trim().Length > PaymentRefunds.MaxReasonLength)
            return (null, "reason", $"'reason' must be at most {PaymentRefunds.MaxReasonLength} characters.");
        return (new RefundPaymentBody(amount, reason.Trim()), null, null);
    }

    private static async Task<IResult> RefundPayment(string paymentId, HttpRequest request, ClaimsPrincipal user, PaymentRefunds refunds, BillingModeInfo mode,
        CancellationToken ct)
    {
        var (body, invalid) = await ReadJsonBodyAsync(request, ReadRefundRequest, "{ \"amount\": 200, \"reason\": \"...\" }", ct);
        if (body is null)
            return invalid!;
        var key = request.Headers["Idempotency-Key"].FirstOrDefault();
        if (key is { Length: > 255 })
            return Problems.Validation("Idempotency-Key", "The Idempotency-Key header must be at most 255 characters.");
        if (PaymentRefunds.ParsePaymentId(paymentId) is not { } id)
            return Problems.Result(StatusCodes.Status404NotFound, ProblemCodes.NotFound, "No such payment.", $"No payment has the id '{paymentId}'.");
        if (!mode.IsEnabled)
            return Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.BillingDisabled, "Billing is not configured on this server.");

        var actor = AuditActor.From(user);
        // A key is the caller's own: the reference carries the actor, so two admins' keys never meet.
        var reference = key is { Length: > 0 } ? $"admin-api:{actor.Id}:{key}" : $"admin-api:{Guid.CreateVersion7():N}";
        var outcome = await refunds.RefundAsync(actor, id, body.Amount, body.Reason, reference, ct);
        return outcome.Status switch
        {
            RefundStatus.NotFound => Problems.Result(StatusCodes.Status404NotFound, ProblemCodes.NotFound, "No such payment.", outcome.Message),
            RefundStatus.NotRefundable or RefundStatus.StripeRefused => Problems.Result(StatusCodes.Status409Conflict, ProblemCodes.NotRefundable,
                "This payment cannot be refunded.", outcome.Message),
            RefundStatus.TooLarge => Problems.Result(StatusCodes.Status409Conflict, ProblemCodes.RefundTooLarge,
                "The refund is larger than what remains of the payment.", outcome.Message),
            RefundStatus.Conflict => Problems.Result(StatusCodes.Status409Conflict, ProblemCodes.IdempotencyConflict,
                "This Idempotency-Key was used for another request.", outcome.Message),
            RefundStatus.StripeUnavailable => RetryLater(outcome.Message),
            _ => Results.Ok(ToDto(outcome.Result!, outcome.Status == RefundStatus.Replayed)),
        };

        IResult RetryLater(string? message)
        {
            request.HttpContext.Response.Headers.RetryAfter = "5";
            return Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.StripeUnavailable, "Stripe could not be reached.", message);
        }
    }

    public static RefundDto ToDto(RefundResult r, bool replayed) =>
        new("payment_refund", PaymentRefunds.PaymentId(r.PaymentId), r.UserId, r.RefundId, r.Amount, r.Currency, r.RefundState, r.PaymentAmount, r.RefundedTotal,
            r.Remaining, r.CreditsTakenBack, r.Trial, r.Prepaid, r.AuditId is { } a ? AuditLog.IdPrefix + a.ToString(CultureInfo.InvariantCulture) : null, replayed);

    // ---- GET /api/v1/admin/events ----

    public sealed record StripeEventDto(string Id, string Object, string Type, string? ObjectId, string? Customer, string? UserId, string Status,
        long Attempts, string? LastError, DateTime ReceivedAt, DateTime? AppliedAt);

    private static readonly string[] EventParameters = ["type", "object", "customer", "failed", "limit", "starting_after"];

    private static async Task<IResult> ListEvents(HttpRequest request, ClaimsPrincipal user, StripeEventLog log, AuditLog audit, CancellationToken ct)
    {
        if (RefuseUnknown(request, EventParameters) is { } unknown)
            return unknown;
        var failed = Text(request, "failed");
        if (failed is not (null or "true" or "false"))
            return Problems.Validation("failed", "'failed' must be true or false.");
        var type = Text(request, "type");
        var objectId = Text(request, "object");
        var customer = Text(request, "customer");
        foreach (var (name, value) in new[] { ("type", type), ("object", objectId), ("customer", customer) })
            if (value is { Length: > 320 })
                return Problems.Validation(name, $"'{name}' must be at most 320 characters.");
        string? customerId = null;
        if (customer is not null && (customerId = await log.ResolveCustomerAsync(customer, ct)) is null)
        {
            // A customer without a Stripe customer has no events: an empty list, as a search that finds nothing.
            await audit.AppendAsync(AuditActor.From(user), AuditActions.ApiRead, null, null, null, ReadRecord(request), ct);
            return Results.Ok(new BillingApi.ListDto<StripeEventDto>("list", "/api/v1/admin/events", [], false));
        }
        var filter = new StripeEventFilter(type, objectId, customerId, failed == "true" ? "failed" : null);
        var startingAfter = Text(request, "starting_after");
        if (await log.PageAsync(filter, Limit(request), startingAfter, ct) is not var (rows, hasMore))
            return Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ResourceMissing, "The request is not valid.",
                $"No such event: '{startingAfter}'. Pass the id of the last event of the previous page.",
                new Dictionary<string, string[]> { ["starting_after"] = ["No such event."] });
        await audit.AppendAsync(AuditActor.From(user), AuditActions.ApiRead, null, null, null, ReadRecord(request), ct);
        return Results.Ok(new BillingApi.ListDto<StripeEventDto>("list", "/api/v1/admin/events",
            rows.Select(e => new StripeEventDto(e.Id, "stripe_event", e.Type, e.ObjectId, e.CustomerId, e.UserId, e.Status, e.Attempts, e.LastError,
                e.ReceivedAt, e.AppliedAt)).ToList(), hasMore));
    }
}
