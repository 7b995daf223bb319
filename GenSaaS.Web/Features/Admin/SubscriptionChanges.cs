using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// An admin cancels a customer's monthly plan at the end of its period, or resumes it, with a reason: the customer's own
/// change (<see cref="PlanChanges"/>, the same reads, idempotency key and read-back), with the audit entry
/// (<c>subscription.cancel</c> / <c>subscription.resume</c>, target the customer) written in the transaction that stores
/// Stripe's answer. Once per change at Stripe: a double submit, a resent form or a second tab is answered from the first.
/// </summary>
public sealed class SubscriptionChanges(PlanChanges changes, AuditLog audit, Db db)
{
    public const int MaxReasonLength = 500;

    public static string Action(bool cancel) => cancel ? AuditActions.SubscriptionCancel : AuditActions.SubscriptionResume;

    private const string AuditedSql = """
        SELECT count(*) FROM audit_log
        WHERE target = @userId AND action = @action AND json_extract(after_json, '$.request') = @request;
        """;

    private static bool Audited(SqliteConnection connection, SqliteTransaction? tx, string userId, bool cancel, string request) =>
        connection.ExecuteScalar<long>(AuditedSql, new { userId, action = Action(cancel), request }, tx) > 0;

    /// <summary>The Stripe request id of an admin's confirmation: the admin and the form's token.</summary>
    public static string RequestId(AuditActor actor, string token) => $"admin:{actor.Id}:{token}";

    /// <summary>
    /// Sets (<paramref name="cancel"/>) or clears the plan's end at its period end for <paramref name="userId"/>. Replayed is true
    /// when this confirmation already made its change (nothing is done again). Throws what Stripe.net throws when Stripe cannot
    /// be reached (<see cref="StripeGateway.IsUnavailable"/>); nothing is stored then.
    /// </summary>
    public async Task<(PlanChanges.Outcome Outcome, bool Replayed)> SetAsync(AuditActor actor, string userId, bool cancel, string reason, string token,
        CancellationToken ct)
    {
        reason = reason.Trim();
        if (reason.Length is 0 or > MaxReasonLength)
            throw new ArgumentException($"A reason of 1 to {MaxReasonLength} characters is required", nameof(reason));
        var requestId = RequestId(actor, token);
        if (await db.ReadAsync(c => Audited(c, null, userId, cancel, requestId), ct))
            return (PlanChanges.Outcome.Changed, true);
        var outcome = await changes.SetCancelAtPeriodEndAsync(userId, cancel, requestId, ct, (connection, tx, before, after, changedUnder) =>
        {
            // Two submits of one confirmation at once: Stripe changed once; whichever stores second finds the first's entry.
            if (Audited(connection, tx, userId, cancel, changedUnder))
                return;
            audit.Append(connection, tx, actor, Action(cancel), userId, reason,
                new { Subscription = before.Id, before.Status, before.CancelAtPeriodEnd },
                new { Subscription = after.Id, after.Status, after.CancelAtPeriodEnd, PeriodEnd = after.Items?.Data?.FirstOrDefault()?.CurrentPeriodEnd, Request = changedUnder });
        });
        return (outcome, false);
    }
}
