using GenSaaS.Web.Features.Plans;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing;

namespace GenSaaS.Web.Features.Credits;

/// <summary>What a customer has: credits, plan, and how much of the current period they have used.</summary>
public sealed record AccountSummary(
    long TrialCredits,
    long PrepaidCredits,
    string PlanKey,
    string PlanName,
    string? SubscriptionStatus,
    DateTime PeriodStart,
    DateTime PeriodEnd,
    long UsedThisPeriod,
    int? SoftLimit,
    int? HardCap,
    bool CancelAtPeriodEnd,
    bool HasSavedCard,
    int RatePerMinute)
{
    public long CreditsRemaining => TrialCredits + PrepaidCredits;

    public bool IsSubscribed => PlanKey == PlanCatalog.SubscriptionUnlimited;
}

/// <summary>Reads <see cref="AccountSummary"/>; one short read transaction, no writes once the account exists.</summary>
public sealed class AccountSummaries(Db db, CreditLedger ledger, PlanCatalog plans, Microsoft.Extensions.Options.IOptions<CreditsOptions> options, TimeProvider clock)
{
    public const string TrialPlanKey = "trial";
    public const string NonePlanKey = "none";
    public const string PrepaidPlanKey = "prepaid";

    private const string SummarySql = """
        SELECT trial_balance AS Trial, prepaid_balance AS Prepaid FROM credit_balances WHERE user_id = @userId;

        SELECT count(*) FROM billing_customers WHERE user_id = @userId AND default_payment_method IS NOT NULL;
        """;

    private const string PeriodCountSql = """
        SELECT coalesce((SELECT used FROM usage_counters WHERE user_id = @userId AND period_key = @periodKey), 0);
        """;

    public async Task<AccountSummary> GetAsync(string userId, CancellationToken ct = default)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using var connection = await db.OpenAsync(ct);
        await using var tx = connection.BeginTransaction(deferred: true);

        (long Trial, long Prepaid)? balance;
        bool hasCard;
        await using (var results = await connection.QueryMultipleAsync(new CommandDefinition(SummarySql, new { userId }, tx, cancellationToken: ct)))
        {
            balance = (await results.ReadAsync<(long Trial, long Prepaid)>()).Cast<(long, long)?>().SingleOrDefault();
            hasCard = await results.ReadSingleAsync<long>() > 0;
        }

        if (balance is null)
        {
            await tx.DisposeAsync();
            await connection.DisposeAsync();
            await ledger.EnsureAccountAsync(userId, ct);
            return await GetAsync(userId, ct);
        }

        var subscription = await CreditLedger.CurrentSubscriptionAsync(connection, tx, userId);
        var (trial, prepaid) = balance.Value;
        var live = subscription is not null && (subscription.IsActiveAt(now) || subscription.IsUnpaid);
        DateTime periodStart, periodEnd;
        if (live && subscription!.CurrentPeriodStart is { } start && subscription.CurrentPeriodEnd is { } end)
            (periodStart, periodEnd) = (start, end);
        else
        {
            periodStart = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
            periodEnd = periodStart.AddMonths(1);
        }

        var periodKey = CreditLedger.PeriodKey(live ? subscription : null, now);
        var used = await connection.ExecuteScalarAsync<long>(new CommandDefinition(PeriodCountSql, new { userId, periodKey }, tx, cancellationToken: ct));

        var (key, name) = live
            ? (PlanCatalog.SubscriptionUnlimited, (plans.Find(subscription!.PlanKey)?.Name ?? "Unlimited monthly") + (subscription.IsUnpaid ? " (payment overdue)" : ""))
            : prepaid > 0 ? (PrepaidPlanKey, "Prepaid credits")
            : hasCard ? (PlanCatalog.PayPerUse, plans.Find(PlanCatalog.PayPerUse)?.Name ?? "Pay per use")
            : trial > 0 ? (TrialPlanKey, "Free trial")
            : (NonePlanKey, "No plan");
        var subscriptionPlan = live ? plans.Find(subscription!.PlanKey) ?? plans.Find(PlanCatalog.SubscriptionUnlimited) : null;
        var rate = key switch
        {
            PlanCatalog.SubscriptionUnlimited => subscriptionPlan?.RatePerMinute,
            PrepaidPlanKey => plans.Find(PlanCatalog.Bundle10)?.RatePerMinute,
            PlanCatalog.PayPerUse => plans.Find(PlanCatalog.PayPerUse)?.RatePerMinute,
            _ => null,
        } ?? options.Value.TrialRatePerMinute;

        return new AccountSummary(trial, prepaid, key, name, subscription?.Status, periodStart, periodEnd, used,
            subscriptionPlan?.SoftLimit, subscriptionPlan?.HardCap, live && subscription!.CancelAtPeriodEnd != 0, hasCard, rate);
    }
}
