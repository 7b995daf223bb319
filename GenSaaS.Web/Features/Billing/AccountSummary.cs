using System.Security.Claims;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Plans;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// What a customer has: credits, plan, how much of the current period they have used, the saved card, and the rate
/// they may generate at. The one read model of an account: the header, the dashboard, the billing page, <c>/api/v1/me</c>,
/// the fair-use emails and the rate limiter all read this.
/// </summary>
public sealed record AccountSummary(
    long TrialCredits,
    long PrepaidCredits,
    string PlanKey,
    string PlanName,
    SubscriptionFacts? Subscription,
    DateTime PeriodStart,
    DateTime PeriodEnd,
    long UsedThisPeriod,
    int? SoftLimit,
    int? HardCap,
    bool CancelAtPeriodEnd,
    bool HasSavedCard,
    string? CardBrand,
    string? CardLast4,
    int RatePerMinute,
    string? CardExpires = null)
{
    public long CreditsRemaining => TrialCredits + PrepaidCredits;

    public bool IsSubscribed => PlanKey == PlanCatalog.SubscriptionUnlimited;

    public string? SubscriptionStatus => Subscription?.Status;

    /// <summary>What pays for the next generation of <paramref name="units"/>, chosen by the rule the ledger reserves with.</summary>
    public FundingChoice NextFunding(DateTime now, int units = 1)
    {
        var live = Subscription is { } subscription && subscription.IsActiveAt(now);
        var state = new FundingState(TrialCredits, PrepaidCredits, new FundingFacts(Subscription, HasSavedCard),
            live ? UsedThisPeriod : 0, live ? HardCap ?? 0 : 0);
        return FundingOrder.Choose(state, units, now);
    }
}

/// <summary>Reads <see cref="AccountSummary"/>: one short read, no writes once the account exists.</summary>
public sealed class AccountSummaries(Db db, CreditLedger ledger, PlanCatalog plans, IOptions<CreditsOptions> credits, IMemoryCache cache, TimeProvider clock)
{
    public const string TrialPlanKey = "trial";
    public const string NonePlanKey = "none";
    public const string PrepaidPlanKey = "prepaid";

    private const string LastBundleSql = """
        SELECT plan_key FROM payments WHERE user_id = @userId AND kind = 'bundle' AND plan_key IS NOT NULL ORDER BY id DESC LIMIT 1;
        """;

    public async Task<AccountSummary> GetAsync(string userId, CancellationToken ct = default)
    {
        var summary = await db.ReadAsync(connection => Read(connection, userId), ct);
        if (summary is not null)
            return summary;
        await ledger.EnsureAccountAsync(userId, ct);
        return await db.ReadAsync(connection => Read(connection, userId), ct)
            ?? throw new InvalidOperationException($"No balance row for {userId}");
    }

    private AccountSummary? Read(Microsoft.Data.Sqlite.SqliteConnection connection, string userId)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        using var tx = connection.BeginTransaction(deferred: true);
        if (CreditLedger.ReadBalance(connection, tx, userId) is not { } balance)
            return null;
        var (trial, prepaid) = balance;
        var standing = CustomerFacts.Read(connection, tx, userId);
        var subscription = standing.Subscription;
        var live = subscription is not null && (subscription.IsActiveAt(now) || subscription.IsUnpaid) ? subscription : null;

        DateTime periodStart, periodEnd;
        if (live is { PeriodStart: { } start, PeriodEnd: { } end })
            (periodStart, periodEnd) = (start, end);
        else
        {
            periodStart = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
            periodEnd = periodStart.AddMonths(1);
        }
        var used = CreditLedger.PeriodUsed(connection, tx, userId, CreditLedger.PeriodKey(live, now));

        var (key, name) = live is not null
            ? (PlanCatalog.SubscriptionUnlimited, (plans.Find(live.PlanKey)?.Name ?? "Unlimited monthly") + (live.Status == "incomplete" ? " (payment pending)" : live.IsUnpaid ? " (payment overdue)" : ""))
            : prepaid > 0 ? (PrepaidPlanKey, "Prepaid credits")
            : standing.HasSavedCard ? (PlanCatalog.PayPerUse, plans.Find(PlanCatalog.PayPerUse)?.Name ?? "Pay per use")
            : trial > 0 ? (TrialPlanKey, "Free trial")
            : (NonePlanKey, "No plan");
        var subscriptionPlan = live is not null ? plans.Find(live.PlanKey) ?? plans.Find(PlanCatalog.SubscriptionUnlimited) : null;
        var rate = key switch
        {
            PlanCatalog.SubscriptionUnlimited => subscriptionPlan?.RatePerMinute,
            PrepaidPlanKey => PrepaidRate(connection, tx, userId),
            PlanCatalog.PayPerUse => plans.Find(PlanCatalog.PayPerUse)?.RatePerMinute,
            _ => null,
        } ?? credits.Value.TrialRatePerMinute;

        return new AccountSummary(trial, prepaid, key, name, subscription, periodStart, periodEnd, used,
            subscriptionPlan?.SoftLimit, subscriptionPlan?.HardCap, live is { CancelAtPeriodEnd: true }, standing.HasSavedCard,
            standing.CardBrand, standing.CardLast4, rate, standing.CardExpires);
    }

    /// <summary>
    /// A prepaid customer generates at the rate of the bundle they last bought; credits granted without a purchase (an
    /// admin's grant) at the rate of the cheapest bundle.
    /// </summary>
    private int? PrepaidRate(Microsoft.Data.Sqlite.SqliteConnection connection, Microsoft.Data.Sqlite.SqliteTransaction tx, string userId)
    {
        var bought = connection.Prepared(tx, LastBundleSql, ("@userId", userId)).ExecuteScalar() as string;
        if (bought is not null && plans.Find(bought) is { Kind: PlanKind.Bundle } plan)
            return plan.RatePerMinute;
        return plans.Plans.Values.Where(p => p.Kind == PlanKind.Bundle).OrderBy(p => p.PriceMinor).FirstOrDefault()?.RatePerMinute;
    }

    /// <summary>
    /// The user's generations-per-minute allowance, cached for 30 s so the rate limiter costs no query per request; a plan
    /// change reaches the limiter within that time.
    /// </summary>
    public async ValueTask<int> RatePerMinuteAsync(string userId, CancellationToken ct = default)
    {
        var cacheKey = $"plan-rate:{userId}";
        if (cache.TryGetValue(cacheKey, out int rate))
            return rate;
        rate = (await GetAsync(userId, ct)).RatePerMinute;
        cache.Set(cacheKey, rate, TimeSpan.FromSeconds(30));
        return rate;
    }

    /// <summary>The answer of <c>GET /api/v1/me</c>.</summary>
    public sealed record MeDto(string? Email, string Plan, string PlanName, string? SubscriptionStatus, long TrialCredits, long PrepaidCredits,
        long CreditsRemaining, long GenerationsThisPeriod, PeriodDto Period, int RatePerMinute, BillingApi.SpendCapDto SpendCap,
        BillingApi.LowBalanceDto LowBalance);

    /// <summary>The current plan period (a calendar month without a live plan) and the plan's limits in it.</summary>
    public sealed record PeriodDto(DateTime Start, DateTime End, int? SoftLimit, int? HardCap, bool CancelAtPeriodEnd);

    /// <summary><c>GET /api/v1/me</c>: the caller's account.</summary>
    public static void Map(WebApplication app) =>
        app.MapGet("/api/v1/me", async (ClaimsPrincipal user, AccountSummaries summaries, SpendCaps spendCaps, LowBalance lowBalance, PlanCatalog plans, CancellationToken ct) =>
        {
            var userId = user.FindFirstValue(ClaimTypes.NameIdentifier)!;
            var s = await summaries.GetAsync(userId, ct);
            var (spendCap, low) = await BillingApi.LimitsAsync(userId, spendCaps, lowBalance, plans, ct);
            return Results.Ok(new MeDto(
                user.FindFirstValue(ClaimTypes.Email) ?? user.Identity?.Name,
                s.PlanKey,
                s.PlanName,
                s.SubscriptionStatus,
                s.TrialCredits,
                s.PrepaidCredits,
                s.CreditsRemaining,
                s.UsedThisPeriod,
                new PeriodDto(s.PeriodStart, s.PeriodEnd, s.SoftLimit, s.HardCap, s.CancelAtPeriodEnd),
                s.RatePerMinute,
                spendCap,
                low));
        }).RequireAuthorization(Accounts.ApiKeyScopes.Policy(Accounts.ApiKeyScopes.Read))
            .WithTags("Account")
            .WithSummary("The caller's account: plan, credits, this period's use, rate, spend cap")
            .Produces<MeDto>();
}
