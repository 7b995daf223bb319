using Dapper;
using GenSaaS.Web.Data;
using Microsoft.Data.Sqlite;
using Stripe;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// The customer's own changes to their monthly plan, made in the app rather than in Stripe's portal: cancel at the end of the
/// paid period, and resume before it ends. Each reads the subscription from Stripe first (so a second tab or a change made
/// in the portal is seen), changes it with an idempotency key named for the customer's one confirmation, and stores Stripe's
/// answer at once; the <c>customer.subscription.updated</c> webhook confirms it. Nothing is written when Stripe does not answer.
/// </summary>
public sealed class PlanChanges(Db db, StripeGateway stripe, Webhooks.StripeEventApplier subscriptions, ILogger<PlanChanges> logger)
{
    public enum Outcome
    {
        Changed,
        /// <summary>The customer has no subscription at all.</summary>
        NoSubscription,
        /// <summary>Cancel asked, but the plan already ends at the end of its period.</summary>
        AlreadyCanceling,
        /// <summary>Resume asked, but the plan is not set to end.</summary>
        NotCanceling,
        /// <summary>The subscription is over at Stripe (canceled or incomplete_expired).</summary>
        SubscriptionEnded,
    }

    /// <summary>What switching to pay per use takes now.</summary>
    public enum PayPerUseStep
    {
        /// <summary>Pay per use already follows: no live plan (the saved card pays once credits are spent), or the plan already ends at its period end.</summary>
        None,
        /// <summary>There is no saved card to charge: one is saved first (Stripe Checkout in setup mode); nothing else changes until then.</summary>
        SaveCard,
        /// <summary>A live plan renews: it is canceled at its period end, and the saved card pays after it.</summary>
        CancelPlan,
    }

    /// <summary>
    /// The one rule the switch page and <c>POST /api/v1/billing/pay-per-use</c> share. Pay per use is no mode of its own: the
    /// funding order charges a saved card (one the customer chose for pay per use) once no live plan and no credits pay, so
    /// the switch is "a saved card, and no plan that renews".
    /// </summary>
    public static PayPerUseStep StepToPayPerUse(AccountSummary account)
    {
        if (!account.HasSavedCard)
            return PayPerUseStep.SaveCard;
        var renews = account.Subscription is { } s && LiveSubscriptions.IsLive(s.Status) && s.PeriodEnd is not null && !s.CancelAtPeriodEnd;
        return renews ? PayPerUseStep.CancelPlan : PayPerUseStep.None;
    }

    private const string StampSql = """
        SELECT last_event_created AS Stamp, version AS Version FROM subscriptions WHERE stripe_subscription_id = @id;
        """;

    /// <summary>
    /// Sets (<paramref name="cancel"/>) or clears the plan's end at its period end. <paramref name="requestId"/> names the
    /// confirmation, so the same one sent twice changes Stripe once. Throws what Stripe.net throws when Stripe cannot be
    /// reached (see <see cref="StripeGateway.IsUnavailable"/>); nothing is stored then.
    /// </summary>
    /// <param name="recordChange">
    /// Runs in the write transaction that stores Stripe's answer to a change made now, with the subscription before and after
    /// and the request id the change was made under at Stripe (an admin's change writes its audit entry there); not when
    /// nothing changed.
    /// </param>
    public async Task<Outcome> SetCancelAtPeriodEndAsync(string userId, bool cancel, string requestId, CancellationToken ct,
        Action<SqliteConnection, SqliteTransaction, Subscription, Subscription, string>? recordChange = null)
    {
        // The row's event time and version, read before Stripe is asked: Stripe's answer is stored only if no one stored the
        // subscription meanwhile (else it is read from Stripe again), see StripeEventApplier.StoreReadBackAsync.
        var (subscriptionId, seen, version) = await db.ReadAsync(connection =>
        {
            var current = CustomerFacts.Read(connection, null, userId).Subscription;
            if (current is null)
                return ((string?)null, 0L, -1L);
            var row = connection.QuerySingle<(long Stamp, long Version)>(StampSql, new { id = current.Id });
            return ((string?)current.Id, row.Stamp, row.Version);
        }, ct);
        if (subscriptionId is null)
            return Outcome.NoSubscription;

        var before = await stripe.GetSubscriptionAsync(subscriptionId, ct);
        if (HasEnded(before) || before.CancelAtPeriodEnd == cancel)
        {
            // Nothing to do at Stripe; what the page shows catches up with Stripe (a portal change whose webhook is late).
            await subscriptions.StoreReadBackAsync(before, userId, Stamp(before, seen), version, ct);
            return HasEnded(before) ? Outcome.SubscriptionEnded : cancel ? Outcome.AlreadyCanceling : Outcome.NotCanceling;
        }

        Subscription after;
        var changedUnder = requestId;
        try
        {
            after = await stripe.SetCancelAtPeriodEndAsync(subscriptionId, cancel, requestId, ct);
            if (StripeGateway.WasReplayed(after))
            {
                // The same confirmation was sent before (a double submit, or a page resent after the plan changed back):
                // Stripe answered the old result. Read what holds now; if the plan changed back since, this is a new wish.
                after = await stripe.GetSubscriptionAsync(subscriptionId, ct);
                if (!HasEnded(after) && after.CancelAtPeriodEnd != cancel)
                {
                    changedUnder = $"{requestId}:{Guid.NewGuid():N}";
                    after = await stripe.SetCancelAtPeriodEndAsync(subscriptionId, cancel, changedUnder, ct);
                }
            }
        }
        catch (StripeException ex) when (ex.StripeError?.Type == "invalid_request_error")
        {
            // Stripe refuses to change a subscription that ended meanwhile (its period ran out, or it was canceled elsewhere).
            var now = await stripe.GetSubscriptionAsync(subscriptionId, ct);
            if (!HasEnded(now))
                throw;
            await subscriptions.StoreReadBackAsync(now, userId, Stamp(now, seen), version, ct);
            return Outcome.SubscriptionEnded;
        }
        await subscriptions.StoreReadBackAsync(after, userId, Stamp(after, seen), version, ct,
            recordChange is null ? null : (connection, tx) => recordChange(connection, tx, before, after, changedUnder));
        logger.LogInformation(BillingLogEvents.PlanChanged, "Subscription {SubscriptionId} of {UserId}: cancel at period end {CancelAtPeriodEnd} (request {RequestId})",
            subscriptionId, userId, after.CancelAtPeriodEnd, requestId);
        return Outcome.Changed;
    }

    /// <summary>
    /// The event time a read-back is stored with: Stripe's own clock when it answered (its <c>Date</c> header), so an event
    /// Stripe created before the change (a webhook still on its way) cannot overwrite it and every later one can; never less
    /// than what the row had (<paramref name="seen"/>), so it never moves the row's clock back.
    /// </summary>
    private static long Stamp(Subscription read, long seen) =>
        read.StripeResponse?.Date is { } answered ? Math.Max(seen, answered.ToUnixTimeSeconds()) : seen;

    private static bool HasEnded(Subscription subscription) => subscription.Status is "canceled" or "incomplete_expired";
}
