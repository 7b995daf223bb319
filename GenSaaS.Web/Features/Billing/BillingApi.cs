using System.Globalization;
using System.Security.Claims;
using System.Text.Json.Serialization;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Plans;
using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// <c>/api/v1/billing</c>, <c>/api/v1/ledger</c> and <c>/api/v1/payments</c>: what the dashboard and billing page show, as JSON,
/// for the caller only. The two lists page as <c>/api/v1/generations</c> does (Stripe's list contract).
/// </summary>
public static class BillingApi
{
    public const string LedgerIdPrefix = "cl_";
    public const string PaymentIdPrefix = "pay_";
    public const int DefaultLimit = 10;

    public static void Map(WebApplication app)
    {
        var read = ApiKeyScopes.Policy(ApiKeyScopes.Read);
        app.MapGet("/api/v1/billing", GetBilling).RequireAuthorization(read).WithTags("Billing")
            .WithSummary("The account's plan, card, balance, spend cap, low-balance warning and auto top-up")
            .Produces<BillingDto>();
        app.MapGet("/api/v1/ledger", ListLedger).RequireAuthorization(read).WithTags("Billing")
            .WithSummary("Credit history, newest first")
            .WithDescription("Every change of the trial and prepaid balances. Cursor-paged as generations are.")
            .CursorPaged("ledger line")
            .Produces<ListDto<LedgerLineDto>>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, ProblemCodes.ResourceMissing, ProblemCodes.ParameterUnknown);
        app.MapGet("/api/v1/payments", ListPayments).RequireAuthorization(read).WithTags("Billing")
            .WithSummary("Payments, newest first")
            .WithDescription("Bundles bought, subscription invoices, pay-per-use holds and captures, refunds. Cursor-paged as generations are.")
            .CursorPaged("payment")
            .Produces<ListDto<PaymentDto>>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, ProblemCodes.ResourceMissing, ProblemCodes.ParameterUnknown);
        AutoTopUpApi.Map(app);
        // A browser's POST proves it is same-site (CsrfProtection); a key needs the billing scope.
        var billing = ApiKeyScopes.Policy(ApiKeyScopes.Billing);
        app.MapPost("/api/v1/billing/subscription/cancel", (HttpContext http, PlanChanges changes, BillingModeInfo mode, CancellationToken ct) =>
                ChangeAsync(http, changes, mode, cancel: true, ct))
            .RequireAuthorization(billing).WithTags("Billing")
            .WithSummary("End the monthly plan at the end of its period")
            .WithDescription("Sets Stripe's cancel_at_period_end: the plan keeps paying until its period ends, is not charged again, nothing is refunded. No body.")
            .PlanChangeDocs();
        app.MapPost("/api/v1/billing/subscription/resume", (HttpContext http, PlanChanges changes, BillingModeInfo mode, CancellationToken ct) =>
                ChangeAsync(http, changes, mode, cancel: false, ct))
            .RequireAuthorization(billing).WithTags("Billing")
            .WithSummary("Keep a monthly plan that was set to end")
            .WithDescription("Clears cancel_at_period_end before the period ends: the plan renews as before; nothing is charged now. No body.")
            .PlanChangeDocs();
        app.MapPost("/api/v1/billing/pay-per-use", SwitchToPayPerUseAsync)
            .RequireAuthorization(billing).WithTags("Billing")
            .WithSummary("Switch to paying per image with the saved card")
            .WithDescription("Needs a saved card (409 no_saved_card otherwise; save one with Stripe Checkout from /billing). A monthly plan that renews is canceled at "
                + "its period end and the card pays after it; without one the card already pays once credits are spent, and nothing changes. No body.")
            .Accepts<NoBody>(isOptional: true, "application/json")
            .Produces<BillingDto>()
            .Header("Idempotency-Key", "Optional, up to 255 characters: names the plan's cancel at Stripe, so a retry makes one change.")
            .Problems(StatusCodes.Status409Conflict, ProblemCodes.NoSavedCard)
            .Problems(StatusCodes.Status503ServiceUnavailable, ProblemCodes.StripeUnavailable, ProblemCodes.BillingDisabled)
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, ProblemCodes.AntiforgeryFailed);
    }

    private static string UserId(ClaimsPrincipal user) =>
        user.FindFirstValue(ClaimTypes.NameIdentifier) ?? throw new InvalidOperationException("Signed-in user without an id");

    // ---- the balance, shared with the 201 of POST /api/v1/generations ----

    /// <summary>What is left to generate with: credits by kind and, for a subscriber, the plan's use this period.</summary>
    public sealed record BalanceDto(long TrialCredits, long PrepaidCredits, long CreditsRemaining, string Plan, PlanUsageDto? PlanUsage);

    public sealed record PlanUsageDto(long Used, int? SoftLimit, int? HardCap, long? Remaining, DateTime PeriodStart, DateTime PeriodEnd);

    public static BalanceDto Balance(AccountSummary s) =>
        new(s.TrialCredits, s.PrepaidCredits, s.CreditsRemaining, s.PlanKey,
            s.IsSubscribed
                ? new PlanUsageDto(s.UsedThisPeriod, s.SoftLimit, s.HardCap, s.HardCap is { } cap ? Math.Max(0, cap - s.UsedThisPeriod) : null, s.PeriodStart, s.PeriodEnd)
                : null);

    // ---- GET /api/v1/billing ----

    public sealed record BillingDto(string Object, string Plan, string PlanName, SubscriptionDto? Subscription, CardDto? Card,
        bool PayPerUse, BalanceDto Balance, SpendCapDto SpendCap, LowBalanceDto LowBalance, AutoTopUpApi.AutoTopUpDto AutoTopUp);

    /// <summary>The monthly pay-per-use spend cap (null when none is set), this month's spend and when it resets.</summary>
    public sealed record SpendCapDto(long? CapMinor, long SpentThisMonthMinor, string Currency, DateTime ResetsAt);

    /// <summary>The low-balance warning: the threshold the customer set (null: the default), the one in force, and whether it stands.</summary>
    public sealed record LowBalanceDto(long? ThresholdSet, long? Threshold, bool Below);

    public static async Task<(SpendCapDto SpendCap, LowBalanceDto LowBalance)> LimitsAsync(string userId, SpendCaps spendCaps, LowBalance lowBalance,
        PlanCatalog plans, CancellationToken ct)
    {
        var cap = await spendCaps.ReadAsync(userId, ct);
        var low = await lowBalance.ReadAsync(userId, ct);
        return (new SpendCapDto(cap.CapMinor, cap.SpentMinor, plans.Find(PlanCatalog.PayPerUse)?.Currency ?? "usd", cap.ResetsAt),
            new LowBalanceDto(low.ThresholdSet, low.Threshold, low.Warned));
    }

    public sealed record SubscriptionDto(string Id, string Plan, string Status, DateTime? CurrentPeriodStart, DateTime? CurrentPeriodEnd, bool CancelAtPeriodEnd);

    public sealed record CardDto(string? Brand, string? Last4, int? ExpMonth, int? ExpYear);

    private const string PayPerUseSql = """
        SELECT pay_per_use_card FROM billing_customers WHERE user_id = @userId;
        """;

    private static async Task<IResult> GetBilling(ClaimsPrincipal user, AccountSummaries summaries, Db db, SpendCaps spendCaps, LowBalance lowBalance,
        AutoTopUps autoTopUps, PlanCatalog plans, PurchaseFlags purchases, CancellationToken ct) =>
        Results.Ok(await ReadBillingAsync(UserId(user), summaries, db, spendCaps, lowBalance, autoTopUps, plans, purchases, ct));

    /// <summary>The answer of <c>GET /api/v1/billing</c>, also answered by the plan changes once they are made.</summary>
    public static async Task<BillingDto> ReadBillingAsync(string userId, AccountSummaries summaries, Db db, SpendCaps spendCaps, LowBalance lowBalance,
        AutoTopUps autoTopUps, PlanCatalog plans, PurchaseFlags purchases, CancellationToken ct)
    {
        var s = await summaries.GetAsync(userId, ct);
        var (spendCap, low) = await LimitsAsync(userId, spendCaps, lowBalance, plans, ct);
        var payPerUse = await db.ReadAsync(c => c.ExecuteScalar<long?>(PayPerUseSql, new { userId }), ct) == 1;
        var subscription = s.Subscription is { } sub
            ? new SubscriptionDto(sub.Id, sub.PlanKey, sub.Status, sub.PeriodStart, sub.PeriodEnd, sub.CancelAtPeriodEnd)
            : null;
        CardDto? card = null;
        if (s.HasSavedCard || s.CardLast4 is not null)
        {
            int? month = null, year = null;
            if (s.CardExpires?.Split('/') is [var m, var y]
                && int.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out var mm)
                && int.TryParse(y, NumberStyles.None, CultureInfo.InvariantCulture, out var yy))
                (month, year) = (mm, yy);
            card = new CardDto(s.CardBrand, s.CardLast4, month, year);
        }
        var autoTopUp = AutoTopUpApi.Dto(await autoTopUps.ReadAsync(userId, ct), plans, await purchases.AutoTopUpOffByAsync(userId) is null);
        return new BillingDto("billing", s.PlanKey, s.PlanName, subscription, card, payPerUse && s.HasSavedCard, Balance(s), spendCap, low, autoTopUp);
    }

    // ---- POST /api/v1/billing/subscription/cancel and /resume ----

    /// <summary>What both plan changes take and answer, for <c>/openapi/v1.json</c>.</summary>
    private static RouteHandlerBuilder PlanChangeDocs(this RouteHandlerBuilder builder) => builder
        .Accepts<NoBody>(isOptional: true, "application/json")
        .Produces<BillingDto>()
        .Header("Idempotency-Key", "Optional, up to 255 characters: names the change at Stripe, so a retry makes one change.")
        .Problems(StatusCodes.Status404NotFound, ProblemCodes.NoSubscription)
        .Problems(StatusCodes.Status409Conflict, ProblemCodes.AlreadyCanceling, ProblemCodes.NotCanceling, ProblemCodes.SubscriptionEnded)
        .Problems(StatusCodes.Status503ServiceUnavailable, ProblemCodes.StripeUnavailable, ProblemCodes.BillingDisabled)
        .Problems(StatusCodes.Status400BadRequest, ProblemCodes.AntiforgeryFailed);

    /// <summary>The plan changes take no fields; a body, if sent, is not read.</summary>
    public sealed record NoBody;

    /// <summary>The longest <c>Idempotency-Key</c> taken (as for generations).</summary>
    private const int MaxIdempotencyKeyLength = 255;

    /// <summary>
    /// Cancels the plan at the end of its period, or resumes it. The <c>Idempotency-Key</c> header, when sent, names the
    /// change at Stripe, so a client's retry makes one change; without it each request is its own. Answers what
    /// <c>GET /api/v1/billing</c> answers, read after the change.
    /// </summary>
    private static async Task<IResult> ChangeAsync(HttpContext http, PlanChanges changes, BillingModeInfo mode, bool cancel, CancellationToken ct)
    {
        if (!mode.IsEnabled)
            return Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.BillingDisabled, "Billing is not configured on this server.");
        var (problem, requestId) = RequestIdOf(http);
        if (problem is not null)
            return problem;
        var userId = UserId(http.User);
        PlanChanges.Outcome outcome;
        try
        {
            outcome = await changes.SetCancelAtPeriodEndAsync(userId, cancel, requestId, ct);
        }
        catch (Exception ex) when (StripeGateway.IsUnavailable(ex, ct))
        {
            return StripeUnavailable(http, ex, userId);
        }
        return outcome switch
        {
            PlanChanges.Outcome.NoSubscription => Problems.Result(StatusCodes.Status404NotFound, ProblemCodes.NoSubscription, "You have no subscription.",
                "There is no monthly plan to cancel or resume; subscribe on the billing page."),
            PlanChanges.Outcome.AlreadyCanceling => Problems.Result(StatusCodes.Status409Conflict, ProblemCodes.AlreadyCanceling, "Your plan is already set to end.",
                "It ends at the end of the current period; nothing changed. Resume it to keep it."),
            PlanChanges.Outcome.NotCanceling => Problems.Result(StatusCodes.Status409Conflict, ProblemCodes.NotCanceling, "Your plan is not set to end.",
                "It renews at the end of the current period; nothing changed."),
            PlanChanges.Outcome.SubscriptionEnded => Problems.Result(StatusCodes.Status409Conflict, ProblemCodes.SubscriptionEnded, "Your subscription has ended.",
                "An ended plan cannot be canceled or resumed; subscribe again on the billing page."),
            _ => Results.Ok(await ReadBillingAsync(userId, http.RequestServices.GetRequiredService<AccountSummaries>(), http.RequestServices.GetRequiredService<Db>(),
                http.RequestServices.GetRequiredService<SpendCaps>(), http.RequestServices.GetRequiredService<LowBalance>(),
                http.RequestServices.GetRequiredService<AutoTopUps>(), http.RequestServices.GetRequiredService<PlanCatalog>(),
                http.RequestServices.GetRequiredService<PurchaseFlags>(), ct)),
        };
    }

    /// <summary>
    /// What names a plan change at Stripe: the caller's <c>Idempotency-Key</c> (one, 1 to 255 characters), else this request;
    /// or the problem when the header is malformed.
    /// </summary>
    private static (IResult? Problem, string RequestId) RequestIdOf(HttpContext http)
    {
        var key = http.Request.Headers["Idempotency-Key"];
        if (key.Count > 1 || (key.Count == 1 && (string.IsNullOrWhiteSpace(key[0]) || key[0]!.Length > MaxIdempotencyKeyLength)))
            return (Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, "The request is not valid.",
                $"Send one Idempotency-Key of 1 to {MaxIdempotencyKeyLength} characters, or none.",
                new Dictionary<string, string[]> { ["Idempotency-Key"] = ["Must be 1 to 255 characters, sent once."] }), "");
        return (null, key.Count == 1 ? "key:" + key[0] : "request:" + http.TraceIdentifier);
    }

    private static IResult StripeUnavailable(HttpContext http, Exception ex, string userId)
    {
        http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(PlanChanges))
            .LogWarning(BillingLogEvents.StripeUnavailable, ex, "Plan change for {UserId} not made: Stripe did not answer", userId);
        http.Response.Headers.RetryAfter = "5";
        return Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.StripeUnavailable, "Stripe could not be reached.",
            "Your plan was not changed. Try again in a moment.");
    }

    // ---- POST /api/v1/billing/pay-per-use ----

    /// <summary>
    /// Switches to pay per use: with a saved card, a monthly plan that renews is canceled at its period end (as
    /// <c>/subscription/cancel</c> does, under the same key rules); with no plan that renews there is nothing to change. Answers
    /// what <c>GET /api/v1/billing</c> answers either way, so a retry after a lost answer is as good as the first call.
    /// </summary>
    private static async Task<IResult> SwitchToPayPerUseAsync(HttpContext http, PlanChanges changes, AccountSummaries summaries, BillingModeInfo mode, PurchaseFlags purchases,
        Db db, SpendCaps spendCaps, LowBalance lowBalance, AutoTopUps autoTopUps, PlanCatalog plans, CancellationToken ct)
    {
        if (!mode.IsEnabled)
            return Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.BillingDisabled, "Billing is not configured on this server.");
        var (problem, requestId) = RequestIdOf(http);
        if (problem is not null)
            return problem;
        var userId = UserId(http.User);
        // The operator turned billing or pay per use off (feature flags): the plan is not canceled for a way to pay that is refused.
        if (await purchases.RefusalAsync(userId, PlanKind.PayPerUse) is { } refused)
            return Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.BillingDisabled, refused, "Your plan and card are unchanged.");
        switch (PlanChanges.StepToPayPerUse(await summaries.GetAsync(userId, ct)))
        {
            case PlanChanges.PayPerUseStep.SaveCard:
                var noCard = Problems.Create(StatusCodes.Status409Conflict, ProblemCodes.NoSavedCard, "Pay per use needs a saved card.",
                    "Nothing was changed. Save a card with Stripe Checkout first (POST /api/billing/checkout with plan pay_per_use, or /billing/plan/pay-per-use), then switch.");
                noCard.Extensions["billing_url"] = "/billing/plan/pay-per-use";
                return Results.Problem(noCard);
            case PlanChanges.PayPerUseStep.CancelPlan:
                try
                {
                    // Changed, already canceling (another tab, a retry) or ended meanwhile: each leaves pay per use to follow.
                    await changes.SetCancelAtPeriodEndAsync(userId, cancel: true, requestId, ct);
                }
                catch (Exception ex) when (StripeGateway.IsUnavailable(ex, ct))
                {
                    return StripeUnavailable(http, ex, userId);
                }
                break;
        }
        return Results.Ok(await ReadBillingAsync(userId, summaries, db, spendCaps, lowBalance, autoTopUps, plans, purchases, ct));
    }

    // ---- the list contract ----

    public sealed record ListDto<T>(string Object, string Url, IReadOnlyList<T> Data, [property: JsonPropertyName("has_more")] bool HasMore);

    private static readonly string[] ListParameters = ["limit", "starting_after"];

    /// <summary>
    /// The list parameters as <c>/api/v1/generations</c> reads them: <c>limit</c> (range and type already checked by
    /// <see cref="QueryGuard"/>), <c>starting_after</c>; any other parameter is refused. Null limit means the answer is the problem.
    /// </summary>
    private static (int Limit, string? StartingAfter, IResult? Problem) ReadListQuery(HttpRequest request, string idName)
    {
        if (request.Query.Keys.FirstOrDefault(k => !ListParameters.Contains(k, StringComparer.Ordinal)) is { } unknown)
            return (0, null, Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ParameterUnknown, "The request is not valid.",
                $"Received unknown parameter: {unknown}. This list takes 'limit' (1-100) and 'starting_after' ({idName}).",
                new Dictionary<string, string[]> { [unknown] = ["Unknown parameter."] }));
        var limit = int.TryParse(request.Query["limit"], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var given) ? given : DefaultLimit;
        var startingAfter = request.Query["starting_after"].ToString() is { Length: > 0 } after ? after : null;
        return (limit, startingAfter, null);
    }

    /// <summary>Unknown ids, malformed ids and other customers' ids get the same answer, so an id cannot be probed.</summary>
    private static IResult NoSuch(string what, string startingAfter) =>
        Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ResourceMissing, "The request is not valid.",
            $"No such {what}: '{startingAfter}'. Pass the id of the last {what} of the previous page.",
            new Dictionary<string, string[]> { ["starting_after"] = [$"No such {what}."] });

    private static long? ParseId(string prefix, string id) =>
        id.StartsWith(prefix, StringComparison.Ordinal)
        && long.TryParse(id.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : null;

    // ---- GET /api/v1/ledger ----

    public sealed record LedgerLineDto(string Id, string Object, string Kind, long Amount, string Bucket, long BalanceAfter, string Reason,
        string? Reference, string? UsageId, string? GenerationId, string? PaymentId, DateTime CreatedAt);

    private sealed record LedgerRow(long Id, string Kind, long Amount, string Bucket, long BalanceAfter, string Reason, string? Reference,
        string? UsageId, string? GenerationId, long? PaymentId, DateTime CreatedAt);

    private const string LedgerCursorSql = """
        SELECT 1 FROM credit_ledger WHERE id = @id AND user_id = @userId;
        """;

    // Ledger ids only grow, in commit order, so the id alone orders the lines; (user_id, id) is ix_credit_ledger_user and the
    // page is one seek on it. What a line refers to is found by primary or unique keys: a usage by id, its generation by id,
    // a bundle's or refund's payment by (kind, stripe_id).
    private const string LedgerPageSql = """
        SELECT l.id, l.kind, l.amount, l.bucket, l.balance_after AS BalanceAfter, l.reason, l.reference,
               u.id AS UsageId, g.id AS GenerationId, p.id AS PaymentId, l.created_at AS CreatedAt
        FROM credit_ledger AS l
        LEFT JOIN usage AS u ON l.kind IN ('debit', 'release') AND u.id = l.reference AND u.user_id = l.user_id
        LEFT JOIN generations AS g ON g.id = u.generation_id
        LEFT JOIN payments AS p ON p.kind = CASE l.kind WHEN 'grant' THEN 'bundle' WHEN 'refund_reversal' THEN 'refund' END
                                AND p.stripe_id = l.reference AND p.user_id = l.user_id
        WHERE l.user_id = @userId AND l.id < @before
        ORDER BY l.id DESC
        LIMIT @take;
        """;

    private static async Task<IResult> ListLedger(HttpRequest request, ClaimsPrincipal user, Db db, CancellationToken ct)
    {
        var (limit, startingAfter, problem) = ReadListQuery(request, "a ledger line id");
        if (problem is not null)
            return problem;
        var userId = UserId(user);
        var before = long.MaxValue;
        if (startingAfter is not null)
        {
            if (ParseId(LedgerIdPrefix, startingAfter) is not { } id
                || await db.ReadAsync(c => c.ExecuteScalar<long?>(LedgerCursorSql, new { id, userId }), ct) is null)
                return NoSuch("ledger line", startingAfter);
            before = id;
        }
        var rows = await db.ReadAsync(c => c.Query<LedgerRow>(LedgerPageSql, new { userId, before, take = limit + 1 }).AsList(), ct);
        var hasMore = CursorPage.TrimLookAhead(rows, limit);
        var data = rows.Select(r => new LedgerLineDto(LedgerIdPrefix + r.Id.ToString(CultureInfo.InvariantCulture), "ledger_line", r.Kind, r.Amount,
            r.Bucket, r.BalanceAfter, r.Reason, r.Reference, r.UsageId, r.GenerationId,
            r.PaymentId is { } p ? PaymentIdPrefix + p.ToString(CultureInfo.InvariantCulture) : null, r.CreatedAt)).ToList();
        return Results.Ok(new ListDto<LedgerLineDto>("list", "/api/v1/ledger", data, hasMore));
    }

    // ---- GET /api/v1/payments ----

    public sealed record PaymentDto(string Id, string Object, string Kind, long Amount, string Currency, string Status, string? Plan,
        long? Credits, string StripeId, string? UsageId, string? LedgerLineId, DateTime CreatedAt, string? ReceiptUrl, string? HostedInvoiceUrl,
        string? InvoicePdf);

    private sealed record PaymentRow(long Id, string Kind, long AmountMinor, string Currency, string Status, string? PlanKey, long? Credits,
        string StripeId, string? UsageId, long? LedgerEntryId, DateTime CreatedAt, string? ReceiptUrl, string? HostedInvoiceUrl, string? InvoicePdf);

    private const string PaymentCursorSql = """
        SELECT created_at FROM payments WHERE id = @id AND user_id = @userId;
        """;

    // ix_payments_user is (user_id, created_at) and, as every SQLite index, ends in the rowid (payments.id), so the page is
    // one seek on it, read backwards, no sort; only payments recorded in the cursor's very instant are read and passed over.
    // created_at is set when the row is first recorded and never updated, so a payment never moves between pages.
    private const string PaymentsFirstPageSql = """
        SELECT id, kind, amount_minor AS AmountMinor, currency, status, plan_key AS PlanKey, credits, stripe_id AS StripeId,
               usage_id AS UsageId, ledger_entry_id AS LedgerEntryId, created_at AS CreatedAt, receipt_url AS ReceiptUrl,
               hosted_invoice_url AS HostedInvoiceUrl, invoice_pdf AS InvoicePdf
        FROM payments
        WHERE user_id = @userId
        ORDER BY created_at DESC, id DESC
        LIMIT @take;
        """;

    private const string PaymentsNextPageSql = """
        SELECT id, kind, amount_minor AS AmountMinor, currency, status, plan_key AS PlanKey, credits, stripe_id AS StripeId,
               usage_id AS UsageId, ledger_entry_id AS LedgerEntryId, created_at AS CreatedAt, receipt_url AS ReceiptUrl,
               hosted_invoice_url AS HostedInvoiceUrl, invoice_pdf AS InvoicePdf
        FROM payments
        WHERE user_id = @userId AND (created_at, id) < (@createdAt, @id)
        ORDER BY created_at DESC, id DESC
        LIMIT @take;
        """;

    private static async Task<IResult> ListPayments(HttpRequest request, ClaimsPrincipal user, Db db, CancellationToken ct)
    {
        var (limit, startingAfter, problem) = ReadListQuery(request, "a payment id");
        if (problem is not null)
            return problem;
        var userId = UserId(user);
        List<PaymentRow> rows;
        if (startingAfter is null)
        {
            rows = await db.ReadAsync(c => c.Query<PaymentRow>(PaymentsFirstPageSql, new { userId, take = limit + 1 }).AsList(), ct);
        }
        else
        {
            // Read as the stored text, so the cursor compares with exactly what is stored.
            var id = ParseId(PaymentIdPrefix, startingAfter);
            var createdAt = id is null ? null : await db.ReadAsync(c => c.ExecuteScalar<string?>(PaymentCursorSql, new { id, userId }), ct);
            if (createdAt is null)
                return NoSuch("payment", startingAfter);
            rows = await db.ReadAsync(c => c.Query<PaymentRow>(PaymentsNextPageSql, new { userId, createdAt, id, take = limit + 1 }).AsList(), ct);
        }
        var hasMore = CursorPage.TrimLookAhead(rows, limit);
        var data = rows.Select(r => new PaymentDto(PaymentIdPrefix + r.Id.ToString(CultureInfo.InvariantCulture), "payment", r.Kind, r.AmountMinor,
            r.Currency, r.Status, r.PlanKey, r.Credits, r.StripeId, r.UsageId,
            r.LedgerEntryId is { } l ? LedgerIdPrefix + l.ToString(CultureInfo.InvariantCulture) : null, r.CreatedAt, r.ReceiptUrl, r.HostedInvoiceUrl,
            r.InvoicePdf)).ToList();
        return Results.Ok(new ListDto<PaymentDto>("list", "/api/v1/payments", data, hasMore));
    }
}
