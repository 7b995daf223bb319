using GenSaaS.Web.Features.Plans;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Credits;
using Microsoft.Data.Sqlite;
using Stripe;
using Stripe.Checkout;

namespace GenSaaS.Web.Features.Billing.Webhooks;

/// <summary>The event refers to something this app does not know yet (a customer or payment still on its way); applying it later will work.</summary>
public sealed class WebhookNotReadyException(string message) : Exception(message);

/// <summary>
/// Applies one Stripe event to the app's state. Every branch is idempotent on the Stripe object id and tolerates any
/// delivery order: grants are keyed by the checkout session, payment rows by their Stripe id, subscriptions are read
/// fresh from Stripe and an older event never overwrites what a newer one wrote.
/// </summary>
public sealed class StripeEventApplier(
    Db db,
    StripeGateway stripe,
    CreditLedger ledger,
    PlanCatalog plans,
    BillingAccounts accounts,
    Payments payments,
    TimeProvider clock,
    ILogger<StripeEventApplier> logger)
{
    /// <summary>
    /// The event types <see cref="ApplyAsync"/> acts on: the webhook endpoint <c>stripe sync</c> registers listens to exactly
    /// these, and an event of another API version is re-fetched only for these.
    /// </summary>
    public static readonly IReadOnlyList<string> HandledTypes =
    [
        EventTypes.CheckoutSessionCompleted,
        EventTypes.CheckoutSessionAsyncPaymentSucceeded,
        EventTypes.CheckoutSessionAsyncPaymentFailed,
        EventTypes.CustomerSubscriptionCreated,
        EventTypes.CustomerSubscriptionUpdated,
        EventTypes.CustomerSubscriptionDeleted,
        EventTypes.InvoicePaid,
        EventTypes.InvoicePaymentFailed,
        EventTypes.PaymentIntentSucceeded,
        EventTypes.PaymentIntentPaymentFailed,
        EventTypes.PaymentIntentCanceled,
        EventTypes.PaymentIntentAmountCapturableUpdated,
        EventTypes.ChargeRefunded,
    ];

    /// <summary>True when the event changed or confirmed state; false when it is of a type this app does not act on.</summary>
    public async Task<bool> ApplyAsync(Event stripeEvent, CancellationToken ct)
    {
        var created = new DateTimeOffset(stripeEvent.Created, TimeSpan.Zero).ToUnixTimeSeconds();
        switch (stripeEvent.Type)
        {
            case EventTypes.CheckoutSessionCompleted:
            case EventTypes.CheckoutSessionAsyncPaymentSucceeded:
            case EventTypes.CheckoutSessionAsyncPaymentFailed:
                await ApplyCheckoutSessionAsync((Session)stripeEvent.Data.Object, created, stripeEvent.Id, ct);
                return true;
            case EventTypes.CustomerSubscriptionCreated:
            case EventTypes.CustomerSubscriptionUpdated:
            case EventTypes.CustomerSubscriptionDeleted:
                await SyncSubscriptionAsync(((Subscription)stripeEvent.Data.Object).Id, created, ct);
                return true;
            case EventTypes.InvoicePaid:
            case EventTypes.InvoicePaymentFailed:
                await ApplyInvoiceAsync((Invoice)stripeEvent.Data.Object, created, ct);
                return true;
            case EventTypes.PaymentIntentSucceeded:
            case EventTypes.PaymentIntentPaymentFailed:
            case EventTypes.PaymentIntentCanceled:
            case EventTypes.PaymentIntentAmountCapturableUpdated:
                await ApplyPaymentIntentAsync((PaymentIntent)stripeEvent.Data.Object, stripeEvent.Type, ct);
                return true;
            case EventTypes.ChargeRefunded:
                await ApplyChargeRefundedAsync((Charge)stripeEvent.Data.Object, ct);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Fulfils a Checkout Session: credits for a paid bundle, the subscription, or the saved card. Also called from the success page.</summary>
    public async Task ApplyCheckoutSessionAsync(Session session, long eventCreated, string source, CancellationToken ct)
    {
        var userId = session.Metadata?.GetValueOrDefault("user_id") ?? session.ClientReferenceId ?? await accounts.UserIdForCustomerAsync(session.CustomerId, ct)
            ?? throw new WebhookNotReadyException($"No user for checkout session {session.Id} (customer {session.CustomerId})");
        switch (session.Mode)
        {
            case "payment":
                await ApplyBundleAsync(session, userId, ct);
                break;
            case "subscription" when session.SubscriptionId is { } subscriptionId:
                await SyncSubscriptionAsync(subscriptionId, eventCreated, ct);
                break;
            case "setup" when session.Status == "complete" && session.SetupIntentId is { } setupIntentId:
                await SaveCardAsync(userId, session.CustomerId, setupIntentId, eventCreated, source, ct);
                break;
        }
    }

    private async Task ApplyBundleAsync(Session session, string userId, CancellationToken ct)
    {
        var planKey = session.Metadata?.GetValueOrDefault("plan_key");
        var plan = planKey is null ? null : plans.Find(planKey);
        if (planKey is null || plan is null || plan.Kind != PlanKind.Bundle)
        {
            logger.LogWarning("Checkout session {SessionId} names no bundle plan ({PlanKey}); nothing granted", session.Id, planKey);
            return;
        }

        var paid = session.PaymentStatus == "paid";
        if (!paid)
        {
            await payments.RecordAsync(Payment.UnpaidBundle(userId, session.Id, session.PaymentIntentId, planKey, session.AmountTotal ?? plan.PriceMinor,
                session.Currency ?? plan.Currency, session.Status == "expired" ? "failed" : session.PaymentStatus ?? "unpaid"), ct);
            return;
        }

        var grant = await ledger.GrantAsync(userId, CreditBucket.Prepaid, plan.Credits, $"Bought {plan.Name}", session.Id, CreditLedger.SystemActor, ct);
        await payments.RecordAsync(Payment.PaidBundle(userId, session.Id, session.PaymentIntentId, planKey, session.AmountTotal ?? plan.PriceMinor,
            session.Currency ?? plan.Currency, plan.Credits, grant.EntryId), ct);
        if (grant.Applied)
            logger.LogInformation(BillingLogEvents.CreditsGranted, "Checkout session {SessionId} granted {Credits} credits to {UserId}", session.Id, plan.Credits, userId);
    }

    private async Task SaveCardAsync(string userId, string? customerId, string setupIntentId, long eventCreated, string source, CancellationToken ct)
    {
        var setupIntent = await stripe.GetSetupIntentAsync(setupIntentId, ct);
        if (setupIntent.Status != "succeeded" || setupIntent.PaymentMethodId is not { } paymentMethodId)
            return;
        customerId ??= setupIntent.CustomerId;
        if (customerId is null)
            return;
        if (!await AdvanceObjectAsync($"card:{customerId}", eventCreated, source, ct))
            return;
        var method = await stripe.GetPaymentMethodAsync(paymentMethodId, ct);
        await stripe.SetDefaultPaymentMethodAsync(customerId, paymentMethodId, ct);
        await accounts.SaveCardAsync(userId, paymentMethodId, method.Card?.Brand, method.Card?.Last4, ct);
        logger.LogInformation("Card {Brand} {Last4} saved for {UserId}", method.Card?.Brand, method.Card?.Last4, userId);
    }

    private async Task ApplyInvoiceAsync(Invoice invoice, long eventCreated, CancellationToken ct)
    {
        var subscriptionId = invoice.Parent?.SubscriptionDetails?.SubscriptionId;
        if (subscriptionId is null)
            return;
        var userId = await SyncSubscriptionAsync(subscriptionId, eventCreated, ct);
        if (invoice.Status == "paid" && invoice.Id is { } invoiceId)
            await payments.RecordAsync(Payment.SubscriptionInvoice(userId, invoiceId, subscriptionId, invoice.AmountPaid, invoice.Currency), ct);
    }

    private const string UpsertSubscriptionSql = """
        INSERT INTO subscriptions (stripe_subscription_id, user_id, plan_key, status, current_period_start, current_period_end,
                                   cancel_at_period_end, last_event_created, updated_at)
        VALUES (@id, @userId, @planKey, @status, @periodStart, @periodEnd, @cancelAtPeriodEnd, @eventCreated, @now)
        ON CONFLICT (stripe_subscription_id) DO UPDATE SET
            status = excluded.status,
            plan_key = excluded.plan_key,
            current_period_start = excluded.current_period_start,
            current_period_end = excluded.current_period_end,
            cancel_at_period_end = excluded.cancel_at_period_end,
            last_event_created = max(subscriptions.last_event_created, excluded.last_event_created),
            updated_at = excluded.updated_at
        WHERE excluded.last_event_created >= subscriptions.last_event_created;
        """;

    /// <summary>
    /// Reads the subscription from Stripe (so the state written is the current one whatever the order of events) and
    /// stores it, unless a newer event already did. Returns the user it belongs to.
    /// </summary>
    public async Task<string> SyncSubscriptionAsync(string subscriptionId, long eventCreated, CancellationToken ct)
    {
        var subscription = await stripe.GetSubscriptionAsync(subscriptionId, ct);
        var userId = subscription.Metadata?.GetValueOrDefault("user_id") ?? await accounts.UserIdForCustomerAsync(subscription.CustomerId, ct)
            ?? throw new WebhookNotReadyException($"No user for subscription {subscriptionId} (customer {subscription.CustomerId})");
        var item = subscription.Items?.Data?.FirstOrDefault();
        var planKey = item?.Price?.LookupKey ?? subscription.Metadata?.GetValueOrDefault("plan_key") ?? PlanCatalog.SubscriptionUnlimited;
        await db.ExecuteAsync(UpsertSubscriptionSql, new
        {
            id = subscription.Id,
            userId,
            planKey,
            status = subscription.Status,
            periodStart = item?.CurrentPeriodStart is { } start && start != default ? DateTime.SpecifyKind(start, DateTimeKind.Utc) : (DateTime?)null,
            periodEnd = item?.CurrentPeriodEnd is { } end && end != default ? DateTime.SpecifyKind(end, DateTimeKind.Utc) : (DateTime?)null,
            cancelAtPeriodEnd = subscription.CancelAtPeriodEnd ? 1 : 0,
            eventCreated,
            now = clock.GetUtcNow().UtcDateTime,
        }, ct);
        logger.LogInformation("Subscription {SubscriptionId} of {UserId} is {Status}", subscription.Id, userId, subscription.Status);
        return userId;
    }

    private const string UsageChargeSql = """
        INSERT INTO usage_charges (usage_id, user_id, payment_intent_id, state, amount_minor, currency, created_at, updated_at)
        SELECT id, user_id, @paymentIntentId, @state, @amount, @currency, @now, @now FROM usage WHERE id = @usageId
        ON CONFLICT (usage_id) DO UPDATE
        SET state = excluded.state, payment_intent_id = coalesce(usage_charges.payment_intent_id, excluded.payment_intent_id), updated_at = excluded.updated_at
        WHERE usage_charges.state IN ('pending', 'authorised') OR (usage_charges.state = 'failed' AND excluded.state = 'captured');

        UPDATE payments SET status = @state, updated_at = @now
        WHERE kind = 'authorisation' AND stripe_id = @paymentIntentId AND status IN ('pending', 'authorised', 'failed');
        """;

    /// <summary>
    /// Pay-per-use authorisations: a capture or cancel made by our job is confirmed here too, so a crash between the
    /// Stripe call and our write still ends in the right state. States only move forward (captured and canceled are final).
    /// </summary>
    private async Task ApplyPaymentIntentAsync(PaymentIntent intent, string type, CancellationToken ct)
    {
        var state = type switch
        {
            EventTypes.PaymentIntentSucceeded => "captured",
            EventTypes.PaymentIntentCanceled => "canceled",
            EventTypes.PaymentIntentAmountCapturableUpdated => "authorised",
            _ => "failed",
        };
        if (intent.Metadata?.GetValueOrDefault("usage_id") is { } usageId)
        {
            await db.ExecuteAsync(UsageChargeSql, new { usageId, state, paymentIntentId = intent.Id, amount = intent.Amount, currency = intent.Currency, now = clock.GetUtcNow().UtcDateTime }, ct);
            if (state == "captured")
                await payments.RecordAsync(Payment.Capture(intent.Metadata.GetValueOrDefault("user_id"), intent.Id, intent.LatestChargeId,
                    intent.AmountReceived, intent.Currency, usageId), ct);
            return;
        }

        // A bundle's PaymentIntent: fulfilment follows its Checkout Session; a refund finds the purchase by payment_intent_id.
    }

    private const string PaymentForIntentSql = """
        SELECT user_id AS UserId, kind, plan_key AS PlanKey, credits, amount_minor AS AmountMinor
        FROM payments
        WHERE payment_intent_id = @paymentIntentId AND kind IN ('bundle', 'capture')
        ORDER BY CASE kind WHEN 'bundle' THEN 0 ELSE 1 END
        LIMIT 1;
        """;

    private const string RefundedBeforeSql = """
        SELECT (SELECT count(*) FROM payments WHERE kind = 'refund' AND stripe_id = @refundId) AS Known,
               (SELECT coalesce(sum(amount_minor), 0) FROM payments WHERE kind = 'refund' AND charge_id = @chargeId) AS Before;
        """;

    /// <summary>
    /// Records each refund of the charge once (by refund id) and, for a bundle, takes back the refunded share of its
    /// credits — cumulatively rounded down, so any order of partial refunds takes back the same total, and never more than is unused.
    /// </summary>
    private async Task ApplyChargeRefundedAsync(Charge charge, CancellationToken ct)
    {
        var refunds = charge.Refunds?.Data is { Count: > 0 } listed ? listed : (await stripe.ListRefundsAsync(charge.Id, ct)).Data;
        PaymentFunding? funding = null;
        if (charge.PaymentIntentId is { } paymentIntentId)
        {
            await using var connection = await db.OpenAsync(ct);
            funding = await connection.QuerySingleOrDefaultAsync<PaymentFunding>(new CommandDefinition(PaymentForIntentSql, new { paymentIntentId }, cancellationToken: ct));
            if (funding is null && (await stripe.GetPaymentIntentAsync(paymentIntentId, ct)).Metadata?.GetValueOrDefault("plan_key") is { } planKey
                && plans.Find(planKey)?.Kind == PlanKind.Bundle)
                throw new WebhookNotReadyException($"Charge {charge.Id} was refunded before its bundle purchase was recorded");
        }
        var userId = funding?.UserId ?? await accounts.UserIdForCustomerAsync(charge.CustomerId, ct);

        foreach (var refund in refunds.Where(r => r.Status is "succeeded" or "pending").OrderBy(r => r.Created))
        {
            await using var connection = await db.OpenAsync(ct);
            var (known, before) = await connection.QuerySingleAsync<(long Known, long Before)>(
                new CommandDefinition(RefundedBeforeSql, new { refundId = refund.Id, chargeId = charge.Id }, cancellationToken: ct));
            if (known > 0)
                continue;
            int? credits = null;
            long? entryId = null;
            if (funding is { Kind: "bundle", Credits: { } granted and > 0 } && userId is not null && charge.Amount > 0)
            {
                var after = Math.Min(charge.Amount, before + refund.Amount);
                var share = (int)(granted * after / charge.Amount - granted * before / charge.Amount);
                credits = share;
                if (share > 0)
                {
                    var taken = await ledger.TakeBackAsync(userId, CreditBucket.Prepaid, share, $"Refund {refund.Id} of {funding.PlanKey}", refund.Id, CreditLedger.SystemActor, ct);
                    entryId = taken.EntryId;
                    logger.LogInformation(BillingLogEvents.CreditsTakenBack, "Refund {RefundId} took back {Taken} of {Share} credits from {UserId}", refund.Id, -taken.Amount, share, userId);
                }
            }
            await payments.RecordAsync(Payment.Refund(userId, refund.Id, charge.PaymentIntentId, charge.Id, funding?.PlanKey, refund.Amount,
                refund.Currency ?? charge.Currency, refund.Status, credits, entryId), ct);
        }
    }

    private const string AdvanceObjectSql = """
        INSERT INTO stripe_object_versions (object_id, last_event_created, last_event_id, updated_at)
        VALUES (@objectId, @created, @eventId, @now)
        ON CONFLICT (object_id) DO UPDATE SET
            last_event_created = excluded.last_event_created, last_event_id = excluded.last_event_id, updated_at = excluded.updated_at
        WHERE excluded.last_event_created >= stripe_object_versions.last_event_created;
        """;

    /// <summary>Records that an event of this time was applied to the object; false when a newer one already was.</summary>
    private async Task<bool> AdvanceObjectAsync(string objectId, long created, string eventId, CancellationToken ct)
    {
        return await db.ExecuteAsync(AdvanceObjectSql, new { objectId, created, eventId, now = clock.GetUtcNow().UtcDateTime }, ct) == 1;
    }

    private sealed record PaymentFunding(string? UserId, string Kind, string? PlanKey, long? Credits, long AmountMinor);
}
