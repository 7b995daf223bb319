using Hangfire;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// Runs reconciliation in the background: the daily run (<see cref="RecurringId"/>, the previous UTC day) and the runs an
/// admin queues on <c>/admin/reconciliation</c>. Its argument is the run's id; a run already started is not run again.
/// </summary>
public sealed class ReconciliationJob(Reconciler reconciler, ReconciliationRuns runs, TimeProvider clock)
{
    public const string RecurringId = "billing-reconciliation-daily";

    /// <summary>No Hangfire retry: a failed run is recorded as failed (with Stripe's error) and the next one starts afresh.</summary>
    [AutomaticRetry(Attempts = 0)]
    public async Task RunAsync(long runId, CancellationToken ct) => await reconciler.RunAsync(runId, ct);

    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(timeoutInSeconds: 600)]
    public async Task RunDailyAsync(CancellationToken ct)
    {
        var yesterday = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime).AddDays(-1);
        var runId = await runs.QueueAsync(yesterday, yesterday, ReconciliationRuns.Triggers.Schedule, null, ct);
        await reconciler.RunAsync(runId, ct);
    }
}
