using System.Globalization;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Dashboard;
using GenSaaS.Web.Features.Plans;
using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Features.Admin;

/// <summary>Money taken in one currency over a period, in minor units: gross, refunds (positive) and what is left.</summary>
public sealed record Revenue(string Currency, long GrossMinor, long RefundsMinor)
{
    public long NetMinor => GrossMinor - RefundsMinor;
}

/// <summary>Generations made and money taken over a period (today, this month).</summary>
public sealed record PeriodFigures(long Generations, IReadOnlyList<Revenue> Revenue);

/// <summary>Active subscriptions on one plan and what they bring in a month at the catalogue's price.</summary>
public sealed record PlanSubscriptions(string PlanKey, string PlanName, long Active, long PriceMinor, string Currency)
{
    public long MonthlyMinor => Active * PriceMinor;
}

/// <summary>One UTC day of the whole business: generations and, per currency, net revenue in minor units.</summary>
public sealed record OverviewDay(DateOnly Day, long Generations, IReadOnlyDictionary<string, long> NetMinor);

/// <summary>Everything the admin overview shows, read at one moment.</summary>
public sealed record OverviewFigures(
    DateOnly Today,
    PeriodFigures TodayFigures,
    PeriodFigures Month,
    IReadOnlyList<PlanSubscriptions> Subscriptions,
    long PastDueSubscriptions,
    long FailedWebhooks,
    long FailedCaptures,
    long HoldsNearExpiry,
    IReadOnlyList<OverviewDay> Days)
{
    public const int DayCount = 30;

    public long ActiveSubscriptions => Subscriptions.Sum(s => s.Active);

    /// <summary>Monthly recurring revenue per currency: each active subscription at its plan's catalogue price.</summary>
    public IReadOnlyList<(string Currency, long Minor)> Mrr =>
        Subscriptions.GroupBy(s => s.Currency, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (g.Key, g.Sum(s => s.MonthlyMinor))).ToList();

    public IReadOnlyList<string> ChartCurrencies =>
        Days.SelectMany(d => d.NetMinor.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    public BarChart GenerationsChart() =>
        BarChart.Of("chart-overview-generations", "Generations per day, last 30 days",
            $"{Days.Sum(d => d.Generations)} generations in the last {DayCount} days.",
            Days.Select(d => (d.Day, d.Generations)).ToList(), v => v == 1 ? "1 generation" : $"{v} generations");

    public BarChart RevenueChart(string currency) =>
        BarChart.Of($"chart-overview-revenue-{currency}", $"Net revenue per day in {currency.ToUpperInvariant()}, last 30 days",
            $"{Money.Format(Days.Sum(d => d.NetMinor.GetValueOrDefault(currency)), currency)} in the last {DayCount} days, refunds taken off.",
            Days.Select(d => (d.Day, d.NetMinor.GetValueOrDefault(currency))).ToList(), v => Money.Format(v, currency));
}

/// <summary>Where the overview's figures lead: the list behind each number.</summary>
public static class OverviewLinks
{
    public const string FailedWebhooks = "/admin/billing/events?status=failed";
    public const string FailedCaptures = "/admin/jobs#failed-captures";
    public const string HoldsNearExpiry = "/admin/jobs#holds-near-expiry";
    public const string FailedRenewals = "/admin/jobs#failed-renewals";
}

/// <summary>
/// Reads the admin overview. Generations and revenue come from the per-day tables that triggers keep for the whole business
/// (<c>overview_daily_generations</c>, <c>overview_daily_revenue</c>, migration 0062): at most 31 days of rows, one range on
/// their primary keys. Subscriptions are counted on <c>ix_subscriptions_status_plan</c>, failed webhooks on
/// <c>ix_stripe_events_status</c>, failed captures and holds on the partial indexes of open and attempted holds: no
/// statement reads usage, the ledger or payments.
/// </summary>
public sealed class OverviewReader(Db db, PlanCatalog plans, TimeProvider clock)
{
    /// <summary>A hold this close to Stripe's capture deadline is "near expiry" (as the hold watchdog settles it).</summary>
    public static readonly TimeSpan HoldWarning = Billing.HoldWatchdog.SettleBefore;

    private const string GenerationsSql = """
        SELECT day, generations FROM overview_daily_generations WHERE day >= @from ORDER BY day;
        """;

    private const string RevenueSql = """
        SELECT day, currency, gross_minor AS GrossMinor, refunds_minor AS RefundsMinor
        FROM overview_daily_revenue WHERE day >= @from ORDER BY day, currency;
        """;

    private const string SubscriptionsSql = """
        SELECT status, plan_key AS PlanKey, count(*) AS Count
        FROM subscriptions WHERE status IN ('active', 'past_due', 'unpaid')
        GROUP BY status, plan_key;
        """;

    private const string FailedWebhooksSql = """
        SELECT count(*) FROM stripe_events WHERE status = 'failed';
        """;

    // As the capture_failed alert counts them: holds still authorised whose capture failed, and generations whose hold
    // ended uncaptured in the last week (both through partial indexes of usage_charges).
    private const string FailedCapturesSql = """
        SELECT (SELECT count(*) FROM usage_charges AS c INDEXED BY ix_usage_charges_open JOIN usage AS u ON u.id = c.usage_id
                WHERE c.state IN ('pending', 'authorised') AND c.state = 'authorised' AND c.error IS NOT NULL AND u.state = 'succeeded')
             + (SELECT count(*) FROM usage_charges AS c JOIN usage AS u ON u.id = c.usage_id
                WHERE (c.capture_attempts > 0 OR c.error IS NOT NULL) AND c.updated_at >= @weekAgo
                  AND c.state IN ('failed', 'canceled') AND u.state = 'succeeded');
        """;

    private const string HoldsNearExpirySql = """
        SELECT count(*) FROM usage_charges AS c
        WHERE c.state IN ('pending', 'authorised') AND coalesce(c.capture_before, datetime(c.created_at, '+114 hours')) < @deadline;
        """;

    private sealed record RevenueRow(string Day, string Currency, long GrossMinor, long RefundsMinor);

    public async Task<OverviewFigures> ReadAsync(CancellationToken ct = default)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var today = DateOnly.FromDateTime(now);
        var monthStart = new DateOnly(today.Year, today.Month, 1);
        var chartStart = today.AddDays(-(OverviewFigures.DayCount - 1));
        var first = monthStart < chartStart ? monthStart : chartStart;
        var from = Key(first);
        var read = await db.ReadAsync(c => new
        {
            Generations = c.Query<(string Day, long Generations)>(GenerationsSql, new { from }).ToDictionary(r => r.Day, r => r.Generations, StringComparer.Ordinal),
            Revenue = c.Query<RevenueRow>(RevenueSql, new { from }).AsList(),
            Subscriptions = c.Query<(string Status, string PlanKey, long Count)>(SubscriptionsSql).AsList(),
            FailedWebhooks = c.ExecuteScalar<long>(FailedWebhooksSql),
            FailedCaptures = c.ExecuteScalar<long>(FailedCapturesSql, new { weekAgo = Db.FormatTime(now.AddDays(-7)) }),
            HoldsNearExpiry = c.ExecuteScalar<long>(HoldsNearExpirySql, new { deadline = Db.FormatTime(now + HoldWarning) }),
        }, ct);

        PeriodFigures Period(DateOnly start) => new(
            read.Generations.Where(g => string.CompareOrdinal(g.Key, Key(start)) >= 0).Sum(g => g.Value),
            read.Revenue.Where(r => string.CompareOrdinal(r.Day, Key(start)) >= 0)
                .GroupBy(r => r.Currency, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => new Revenue(g.Key, g.Sum(r => r.GrossMinor), g.Sum(r => r.RefundsMinor))).ToList());

        var subscriptions = read.Subscriptions.Where(s => s.Status == "active").Select(s =>
        {
            var plan = plans.Find(s.PlanKey);
            return new PlanSubscriptions(s.PlanKey, plan?.Name ?? s.PlanKey, s.Count, plan?.PriceMinor ?? 0, plan?.Currency ?? "usd");
        }).OrderBy(s => s.PlanKey, StringComparer.Ordinal).ToList();

        var days = new List<OverviewDay>(OverviewFigures.DayCount);
        for (var day = chartStart; day <= today; day = day.AddDays(1))
        {
            var key = Key(day);
            days.Add(new OverviewDay(day, read.Generations.GetValueOrDefault(key),
                read.Revenue.Where(r => r.Day == key).ToDictionary(r => r.Currency, r => r.GrossMinor - r.RefundsMinor, StringComparer.Ordinal)));
        }

        return new OverviewFigures(today, Period(today), Period(monthStart), subscriptions,
            read.Subscriptions.Where(s => s.Status != "active").Sum(s => s.Count),
            read.FailedWebhooks, read.FailedCaptures, read.HoldsNearExpiry, days);
    }

    private static string Key(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
