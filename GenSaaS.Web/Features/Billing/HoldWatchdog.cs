using Dapper;
using GenSaaS.Web.Data;
using Hangfire;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// Settles pay-per-use holds well before Stripe's deadline (the charge's <c>capture_before</c>; Stripe cancels an uncaptured
/// hold then, and the generation goes unpaid): a hold within <see cref="SettleBefore"/> of it is captured when its
/// generation succeeded and cancelled when it did not. One that is still open afterwards is an alert (an error-level
/// log with <see cref="BillingLogEvents.HoldAtRisk"/>) and is listed on <c>/admin/billing/captures</c>.
/// </summary>
public sealed class HoldWatchdog(Db db, PayPerUse payPerUse, TimeProvider clock, ILogger<HoldWatchdog> logger)
{
    public const string RecurringId = "billing-hold-watchdog";

    /// <summary>How long before <c>capture_before</c> a hold is settled at the latest.</summary>
    public static readonly TimeSpan SettleBefore = TimeSpan.FromDays(1);

    // Holds without a recorded deadline count from Stripe's shortest one (4 days 18 hours, off-session Visa).
    private const string AtRiskSql = """
        SELECT c.usage_id AS UsageId, u.state AS UsageState, c.payment_intent_id AS PaymentIntentId,
               coalesce(c.capture_before, datetime(c.created_at, '+114 hours')) AS CaptureBefore
        FROM usage_charges AS c JOIN usage AS u ON u.id = c.usage_id
        WHERE c.state IN ('pending', 'authorised')
          AND coalesce(c.capture_before, datetime(c.created_at, '+114 hours')) < @deadline
        ORDER BY 4
        LIMIT 500;
        """;

    private sealed record AtRisk(string UsageId, string UsageState, string? PaymentIntentId, DateTime CaptureBefore);

    /// <summary>Returns how many holds are still open close to their deadline after this run (each one alerted).</summary>
    public async Task<int> RunAsync(CancellationToken ct)
    {
        var deadline = clock.GetUtcNow().UtcDateTime + SettleBefore;
        foreach (var hold in await ListAsync(deadline, ct))
        {
            try
            {
                if (hold.UsageState == "succeeded")
                    await payPerUse.CaptureAsync(hold.UsageId, ct);
                else if (hold.UsageState == "released")
                    await payPerUse.CancelAsync(hold.UsageId, ct);
            }
            catch (Exception ex) when (ex is Stripe.StripeException || StripeGateway.IsUnavailable(ex, ct))
            {
                logger.LogWarning(ex, "Hold watchdog could not settle usage {UsageId}", hold.UsageId);
            }
        }

        var open = await ListAsync(deadline, ct);
        foreach (var hold in open)
            logger.LogError(BillingLogEvents.HoldAtRisk,
                "Pay-per-use hold {PaymentIntentId} of usage {UsageId} (generation {UsageState}) is still open and Stripe cancels it at {CaptureBefore:u}; see /admin/billing/captures",
                hold.PaymentIntentId, hold.UsageId, hold.UsageState, hold.CaptureBefore);
        return open.Count;
    }

    private async Task<List<AtRisk>> ListAsync(DateTime deadline, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<AtRisk>(new CommandDefinition(AtRiskSql, new { deadline }, cancellationToken: ct))).ToList();
    }
}

/// <summary>Every 15 minutes: <see cref="HoldWatchdog"/>.</summary>
public sealed class HoldWatchdogJob(HoldWatchdog watchdog)
{
    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(600)]
    public Task RunAsync(CancellationToken ct) => watchdog.RunAsync(ct);
}
