using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Admin;

/// <summary>A pay-per-use hold as the jobs page lists it.</summary>
public sealed record HoldRow(
    string UsageId, string UserId, string? PaymentIntentId, string State, string UsageState, long AmountMinor, string Currency,
    long CaptureAttempts, string? Error, DateTime CaptureBefore);

/// <summary>A subscription whose renewal failed (Stripe says <c>past_due</c> or <c>unpaid</c>).</summary>
public sealed record RenewalRow(string SubscriptionId, string UserId, string PlanKey, string Status, DateTime? CurrentPeriodEnd, DateTime UpdatedAt);

/// <summary>What an admin's action on a hold came to, in words for the page.</summary>
public sealed record JobActionOutcome(bool Changed, string Message);

/// <summary>
/// <c>/admin/jobs</c>'s lists and actions. The lists read open holds through <c>ix_usage_charges_open</c>, ended ones through
/// <c>ix_usage_charges_attempted</c> and renewals through <c>ix_subscriptions_status_plan</c>. The actions go through
/// <see cref="PayPerUse"/> (the same capture and cancel the jobs run) and write one audit entry in the write transaction
/// that moves the hold, only when this call moved it: a second submit, a second tab or a Stripe failure writes none.
/// </summary>
public sealed class JobActions(Db db, PayPerUse payPerUse, AuditLog audit, TimeProvider clock)
{
    public const int MaxReasonLength = 500;

    private static readonly SemaphoreSlim Gate = new(1, 1);

    // Holds still open whose capture failed; and generations whose hold ended uncaptured in the last week.
    private const string FailedCapturesSql = """
        SELECT c.usage_id AS UsageId, c.user_id AS UserId, c.payment_intent_id AS PaymentIntentId, c.state, u.state AS UsageState,
               c.amount_minor AS AmountMinor, c.currency, c.capture_attempts AS CaptureAttempts, c.error,
               coalesce(c.capture_before, datetime(c.created_at, '+114 hours')) AS CaptureBefore
        FROM usage_charges AS c INDEXED BY ix_usage_charges_open JOIN usage AS u ON u.id = c.usage_id
        WHERE c.state IN ('pending', 'authorised') AND c.state = 'authorised' AND c.error IS NOT NULL AND u.state = 'succeeded'
        UNION ALL
        SELECT c.usage_id, c.user_id, c.payment_intent_id, c.state, u.state, c.amount_minor, c.currency, c.capture_attempts, c.error,
               coalesce(c.capture_before, datetime(c.created_at, '+114 hours'))
        FROM usage_charges AS c JOIN usage AS u ON u.id = c.usage_id
        WHERE (c.capture_attempts > 0 OR c.error IS NOT NULL) AND c.updated_at >= @weekAgo
          AND c.state IN ('failed', 'canceled') AND u.state = 'succeeded'
        ORDER BY 10
        LIMIT 200;
        """;

    // Holds without a recorded deadline count from Stripe's shortest one (4 days 18 hours), as the hold watchdog does.
    private const string HoldsNearExpirySql = """
        SELECT c.usage_id AS UsageId, c.user_id AS UserId, c.payment_intent_id AS PaymentIntentId, c.state, u.state AS UsageState,
               c.amount_minor AS AmountMinor, c.currency, c.capture_attempts AS CaptureAttempts, c.error,
               coalesce(c.capture_before, datetime(c.created_at, '+114 hours')) AS CaptureBefore
        FROM usage_charges AS c JOIN usage AS u ON u.id = c.usage_id
        WHERE c.state IN ('pending', 'authorised') AND coalesce(c.capture_before, datetime(c.created_at, '+114 hours')) < @deadline
        ORDER BY 10
        LIMIT 200;
        """;

    private const string FailedRenewalsSql = """
        SELECT stripe_subscription_id AS SubscriptionId, user_id AS UserId, plan_key AS PlanKey, status,
               current_period_end AS CurrentPeriodEnd, updated_at AS UpdatedAt
        FROM subscriptions WHERE status IN ('past_due', 'unpaid')
        ORDER BY updated_at DESC
        LIMIT 200;
        """;

    public async Task<(List<HoldRow> FailedCaptures, List<HoldRow> HoldsNearExpiry, List<RenewalRow> FailedRenewals)> ListAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        return await db.ReadAsync(c => (
            c.Query<HoldRow>(FailedCapturesSql, new { weekAgo = Db.FormatTime(now.AddDays(-7)) }).AsList(),
            c.Query<HoldRow>(HoldsNearExpirySql, new { deadline = Db.FormatTime(now + OverviewReader.HoldWarning) }).AsList(),
            c.Query<RenewalRow>(FailedRenewalsSql).AsList()), ct);
    }

    private const string HoldSql = """
        SELECT c.usage_id AS UsageId, c.user_id AS UserId, c.payment_intent_id AS PaymentIntentId, c.state, u.state AS UsageState,
               c.amount_minor AS AmountMinor, c.currency, c.capture_attempts AS CaptureAttempts, c.error,
               coalesce(c.capture_before, datetime(c.created_at, '+114 hours')) AS CaptureBefore
        FROM usage_charges AS c JOIN usage AS u ON u.id = c.usage_id
        WHERE c.usage_id = @usageId;
        """;

    public Task<HoldRow?> FindAsync(string usageId, CancellationToken ct) =>
        db.ReadAsync(c => c.QuerySingleOrDefault<HoldRow>(HoldSql, new { usageId }), ct);

    /// <summary>Captures a succeeded generation's hold now (the capture the jobs retry), audited as <c>hold.capture</c>.</summary>
    public Task<JobActionOutcome> CaptureAsync(AuditActor actor, string usageId, string reason, CancellationToken ct) =>
        ActAsync(actor, usageId, reason, AuditActions.HoldCapture, "captured",
            alongside => payPerUse.CaptureAsync(usageId, ct, alongside), ct);

    /// <summary>Cancels a hold at Stripe (the customer is not charged for it), audited as <c>hold.release</c>.</summary>
    public Task<JobActionOutcome> ReleaseAsync(AuditActor actor, string usageId, string reason, CancellationToken ct) =>
        ActAsync(actor, usageId, reason, AuditActions.HoldRelease, "released",
            alongside => payPerUse.CancelAsync(usageId, ct, alongside, evenIfSucceeded: true), ct);

    private async Task<JobActionOutcome> ActAsync(AuditActor actor, string usageId, string reason, string action, string done,
        Func<AlongsideHoldChange, Task<HoldChange>> act, CancellationToken ct)
    {
        reason = reason.Trim();
        if (reason.Length is 0 or > MaxReasonLength)
            throw new ArgumentException($"A reason of 1 to {MaxReasonLength} characters is required", nameof(reason));
        if (await FindAsync(usageId, ct) is not { } before)
            return new JobActionOutcome(false, $"There is no hold for usage {usageId}.");

        // One admin action on holds at a time in this process: a double submit's second request waits, then finds the hold
        // moved and does nothing (two captures racing would both reach Stripe and both record the capture).
        await Gate.WaitAsync(ct);
        HoldChange change;
        try
        {
            change = await act((connection, tx, newState) => audit.Append(connection, tx, actor, action, usageId, reason,
                new { before.State, before.UsageState, before.PaymentIntentId, before.AmountMinor, before.Currency, before.CaptureAttempts, before.Error },
                new { State = newState, before.PaymentIntentId }));
        }
        catch (Exception ex) when (ex is Stripe.StripeException || StripeGateway.IsUnavailable(ex, ct))
        {
            return new JobActionOutcome(false, $"Stripe did not do it: {ex.Message}. Nothing changed: the hold of usage {usageId} is still {before.State}.");
        }
        finally
        {
            Gate.Release();
        }
        if (change.Changed)
            return new JobActionOutcome(true, change.State == "captured" || (change.State == "canceled" && done == "released")
                ? $"Hold {before.PaymentIntentId} of usage {usageId} {done} ({Shared.Money.Format(before.AmountMinor, before.Currency)})."
                : $"Stripe had already ended hold {before.PaymentIntentId} of usage {usageId}: it is now {change.State}. {change.Error}");
        if (change.Error is { } error)
            return new JobActionOutcome(false, change.State == before.State
                ? $"Nothing changed: the hold of usage {usageId} is still {before.State}. {error}"
                : error);
        return new JobActionOutcome(false, $"Nothing to do: the hold of usage {usageId} is {change.State ?? before.State} (already {Already(change.State ?? before.State)}).");
    }

    private static string Already(string state) => state switch
    {
        "captured" => "captured",
        "canceled" => "released or ended",
        "failed" => "ended unpaid",
        _ => "not in a state this action takes",
    };
}
