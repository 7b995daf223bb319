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
    BillingNotices notices,
    AutoTopUpCharges autoTopUps,
    LifecycleEmails lifecycle,
    RefundRecorder refundRecorder,
    CheckoutSessions checkoutSessions,
    TimeProvider clock,
    ILogger<StripeEventApplier> logger)
{
    /// <summary>
    /// Every event type the app acts on, in one place: the webhook endpoint is registered for exactly these (and
    /// <c>docs/billing.md</c> lists them; a test compares the two).
    /// </summary>
    public static readonly IReadOnlyList<string> HandledEvents =
    [
        EventTypes.CheckoutSessionCompleted,
        EventTypes.CheckoutSessionAsyncPaymentSucceeded,
        EventTypes.CheckoutSessionAsyncPaymentFailed,
        EventTypes.CheckoutSessionExpired,
        EventTypes.InvoicePaid,
        EventTypes.InvoicePaymentFailed,
        EventTypes.CustomerSubscriptionCreated,
        EventTypes.CustomerSubscriptionUpdated,
        EventTypes.CustomerSubscriptionDeleted,
        EventTypes.PaymentIntentSucceeded,
        EventTypes.PaymentIntentPaymentFailed,
        EventTypes.PaymentIntentCanceled,
        EventTypes.PaymentIntentAmountCapturableUpdated,
        EventTypes.ChargeRefunded,
        EventTypes.CustomerUpdated,
        EventTypes.PaymentMethodAttached,
        EventTypes.PaymentMethodDetached,
        EventTypes.SetupIntentSucceeded,
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
                await ApplyCheckoutSessionAsync((Session)stripeEvent.Data.Object, created, stripeEvent.Id, ct,
                    asyncPaymentFailed: stripeEvent.Type == EventTypes.CheckoutSessionAsyncPaymentFailed);
                return true;
            case EventTypes.CheckoutSessionExpired:
                await ApplyCheckoutExpiredAsync((Session)stripeEvent.Data.Object, ct);
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
            case EventTypes.CustomerUpdated:
                await FollowCardAsync(((Customer)stripeEvent.Data.Object).Id, null, created, stripeEvent.Id, ct);
                return true;
            case EventTypes.PaymentMethodAttached:
            {
                var method = (PaymentMethod)stripeEvent.Data.Object;
                await FollowCardAsync(method.CustomerId, new CardChange(method.Id, method.Created, Newest: false), created, stripeEvent.Id, ct);
                return true;
            }
            case EventTypes.PaymentMethodDetached:
            {
                // The payment method no longer names its customer; the previous attributes do.
                var method = (PaymentMethod)stripeEvent.Data.Object;
                var customerId = method.CustomerId ?? await accounts.CustomerOfCardAsync(method.Id, ct)
                    ?? PreviousCustomer(stripeEvent);
                await FollowCardAsync(customerId, null, created, stripeEvent.Id, ct);
                return true;
            }
            case EventTypes.SetupIntentSucceeded:
            {
                var setupIntent = (SetupIntent)stripeEvent.Data.Object;
                if (setupIntent.PaymentMethodId is { } paymentMethodId)
                {
                    var method = await stripe.GetPaymentMethodAsync(paymentMethodId, ct);
                    await FollowCardAsync(setupIntent.CustomerId ?? method.CustomerId, new CardChange(method.Id, method.Created, Newest: true), created, stripeEvent.Id, ct);
                }
                return true;
            }
            default:
                return false;
        }
    }

    /// <summary>
    /// Fulfils a Checkout Session: credits for a paid bundle, the subscription, or the saved card. Also called from the success
    /// page. A delayed payment (bank debit) completes the session with <c>payment_status=unpaid</c>: nothing is granted until
    /// <c>checkout.session.async_payment_succeeded</c> (the session then says paid); <paramref name="asyncPaymentFailed"/>
    /// (<c>checkout.session.async_payment_failed</c>) grants nothing and tells the customer once.
    /// </summary>
    public async Task ApplyCheckoutSessionAsync(Session session, long eventCreated, string source, CancellationToken ct, bool asyncPaymentFailed = false)
    {
        var userId = session.Metadata?.GetValueOrDefault("user_id") ?? session.ClientReferenceId ?? await accounts.UserIdForCustomerAsync(session.CustomerId, ct)
            ?? throw new WebhookNotReadyException($"No user for checkout session {session.Id} (customer {session.CustomerId})");
        if (asyncPaymentFailed && session.Mode is "payment" or "subscription")
            await notices.NotifyOnceAsync(BillingNotices.AsyncPaymentFailed, session.Id, userId, ct);
        switch (session.Mode)
        {
            case "payment":
                await ApplyBundleAsync(session, userId, ct, asyncPaymentFailed);
                break;
            case "subscription" when session.SubscriptionId is { } subscriptionId:
                await SyncSubscriptionAsync(subscriptionId, eventCreated, ct);
                break;
            case "setup" when session.Status == "complete" && session.SetupIntentId is { } setupIntentId:
                await SaveCardAsync(userId, session.CustomerId, setupIntentId, eventCreated, source, ct);
                break;
        }
        // As the success page does: a paid (or free) completion is final; a bank debit still on its way stays pending.
        if (session.Status == "complete" && session.PaymentStatus != "unpaid" && !asyncPaymentFailed)
            await checkoutSessions.SetStateAsync(session.Id, CheckoutSessions.State.Complete, ct);
    }

    /// <summary>
    /// <c>checkout.session.expired</c>: the customer left Checkout and Stripe closed the session (its <c>expires_at</c>, 24 h by
    /// default, or the app expired an older tab's). Nothing was paid, so nothing is granted and no payment row is written; the
    /// session's row leaves <c>pending</c>, so neither the success page nor the next subscription checkout asks Stripe about it
    /// again. Only a pending row moves: a session already complete stays complete, whatever order events come in, and a replay
    /// changes nothing.
    /// </summary>
    private async Task ApplyCheckoutExpiredAsync(Session session, CancellationToken ct)
    {
        if (session.Status != "expired")
        {
            StripeApplyReport.NoteUnchanged($"checkout session {session.Id} is {session.Status ?? "of no status"}, not expired: nothing to do");
            return;
        }
        if (await checkoutSessions.SetStateAsync(session.Id, CheckoutSessions.State.Expired, ct) > 0)
        {
            logger.LogInformation("Checkout session {SessionId} expired without a purchase", session.Id);
            StripeApplyReport.NoteChanged($"checkout session {session.Id} marked expired: nothing was bought");
        }
        else
            StripeApplyReport.NoteUnchanged($"checkout session {session.Id} was not pending here (already complete or expired, or not started by this app)");
    }

    private async Task ApplyBundleAsync(Session session, string userId, CancellationToken ct, bool asyncPaymentFailed)
    {
        var planKey = session.Metadata?.GetValueOrDefault("plan_key");
        var plan = planKey is null ? null : plans.Find(planKey);
        if (planKey is null || plan is null || plan.Kind != PlanKind.Bundle)
        {
            logger.LogWarning("Checkout session {SessionId} names no bundle plan ({PlanKey}); nothing granted", session.Id, planKey);
            StripeApplyReport.NoteUnchanged($"checkout session {session.Id} names no bundle plan ({planKey ?? "none"}): nothing to grant");
            return;
        }

        var paid = session.PaymentStatus == "paid" && !asyncPaymentFailed;
        if (!paid)
        {
            await payments.RecordAsync(Payment.UnpaidBundle(userId, session.Id, session.PaymentIntentId, planKey, session.AmountTotal ?? plan.PriceMinor,
                session.Currency ?? plan.Currency, session.Status == "expired" || asyncPaymentFailed ? "failed" : session.PaymentStatus ?? "unpaid"), ct);
            StripeApplyReport.NoteUnchanged($"checkout session {session.Id} is not paid ({(asyncPaymentFailed ? "its payment failed" : session.PaymentStatus ?? "unpaid")}): no credits granted");
            return;
        }

        // The credits and the payment row that paid for them are written in one transaction: no moment, and no crash, has one
        // without the other. The receipt link is Stripe's to give and may be late: it is filled in afterwards, best effort.
        var reason = $"Bought {plan.Name}";
        var grant = await db.WriteAsync((connection, tx) =>
        {
            var line = ledger.Grant(connection, tx, userId, CreditBucket.Prepaid, plan.Credits, reason, session.Id, CreditLedger.SystemActor);
            payments.Record(connection, tx, Payment.PaidBundle(userId, session.Id, session.PaymentIntentId, planKey, session.AmountTotal ?? plan.PriceMinor,
                session.Currency ?? plan.Currency, plan.Credits, line.EntryId));
            return line;
        }, ct);
        if (grant.Applied)
            ledger.LogGrant(userId, CreditBucket.Prepaid, plan.Credits, CreditLedger.SystemActor, reason, session.Id);
        if (await BundleChargeAsync(session, ct) is { } charge)
            await payments.RecordReceiptAsync(charge.Id, session.PaymentIntentId, charge.ReceiptUrl, ct);
        await lifecycle.BundlePaidAsync(session.Id, ct);
        if (grant.Applied)
        {
            logger.LogInformation(BillingLogEvents.CreditsGranted, "Checkout session {SessionId} granted {Credits} credits to {UserId}", session.Id, plan.Credits, userId);
            StripeApplyReport.NoteChanged($"granted {plan.Credits} prepaid credits ({plan.Name}) to {userId}, ledger line {BillingApi.LedgerIdPrefix}{grant.EntryId}");
        }
        else
            StripeApplyReport.NoteUnchanged($"the {plan.Credits} credits of checkout session {session.Id} were already granted (ledger line {BillingApi.LedgerIdPrefix}{grant.EntryId})");
    }

    /// <summary>
    /// The charge that paid a bundle, for its receipt link: a Checkout Session names only its payment intent. Best effort — the
    /// credits are granted already and must not wait on this; a receipt missed here is filled by any later event of the charge.
    /// </summary>
    private async Task<Charge?> BundleChargeAsync(Session session, CancellationToken ct)
    {
        if (session.PaymentIntentId is not { } paymentIntentId)
            return null;
        try
        {
            return (await stripe.GetPaymentIntentWithChargeAsync(paymentIntentId, ct)).LatestCharge;
        }
        catch (Exception ex) when (ex is StripeException or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            logger.LogWarning("No receipt link for checkout session {SessionId} ({PaymentIntentId}): {Error}", session.Id, paymentIntentId, ex.Message);
            return null;
        }
    }

    private async Task SaveCardAsync(string userId, string? customerId, string setupIntentId, long eventCreated, string source, CancellationToken ct)
    {
        var setupIntent = await stripe.GetSetupIntentAsync(setupIntentId, ct);
        if (setupIntent.Status != "succeeded" || setupIntent.PaymentMethodId is not { } paymentMethodId)
            return;
        customerId ??= setupIntent.CustomerId;
        if (customerId is null)
            return;
        var method = await stripe.GetPaymentMethodAsync(paymentMethodId, ct);
        await FollowCardAsync(customerId, new CardChange(method.Id, method.Created, Newest: true), eventCreated, source, ct, optInUserId: userId);
    }

    /// <summary>
    /// Reads the customer's card from Stripe now (the customer is back from the portal). It does not move the card's event
    /// clock (our clock is not Stripe's): events still on their way apply as usual, and each reads Stripe's state again.
    /// </summary>
    public async Task RefreshCardAsync(string userId, CancellationToken ct)
    {
        if (await accounts.FindAsync(userId, ct) is not { } customer)
            return;
        await FollowCardAsync(customer.StripeCustomerId, null, eventCreated: null, "portal-return", ct);
    }

    /// <summary>A card that an event says was just added: a setup intent's card (<paramref name="Newest"/>: it should become the default) or one attached.</summary>
    private sealed record CardChange(string PaymentMethodId, DateTime Created, bool Newest);

    /// <summary>
    /// Makes the card the app charges per generation the customer's default card at Stripe, read fresh from Stripe so any
    /// delivery order ends in Stripe's current state; an event older than the last one applied to the customer's card is
    /// skipped. A card just set up (<see cref="CardChange.Newest"/>) becomes the default at Stripe unless a newer card
    /// already is; a card just attached becomes it only when the customer has none. Only a customer who chose pay per use
    /// (saved a card for it, <paramref name="optInUserId"/>) has a card charged; for others nothing is stored.
    /// </summary>
    private async Task FollowCardAsync(string? customerId, CardChange? change, long? eventCreated, string eventId, CancellationToken ct, string? optInUserId = null)
    {
        if (string.IsNullOrEmpty(customerId))
            return;
        var userId = optInUserId ?? await accounts.UserIdForCustomerAsync(customerId, ct);
        if (userId is null)
        {
            StripeApplyReport.NoteUnchanged($"no account has Stripe customer {customerId}: no card to follow");
            return;
        }
        var account = await accounts.FindAsync(userId, ct);
        if (optInUserId is null && account?.PaysPerUse != true)
        {
            StripeApplyReport.NoteUnchanged($"{userId} does not pay per use: no card is kept for them");
            return;
        }
        if (eventCreated is { } created && !await AdvanceObjectAsync($"card:{customerId}", created, eventId, ct))
        {
            logger.LogInformation("Card event {StripeEventId} for {CustomerId} is older than one already applied; skipped", eventId, customerId);
            StripeApplyReport.NoteUnchanged($"a newer event about the card of {customerId} was already applied: skipped");
            return;
        }
        var customer = await stripe.GetCustomerWithDefaultCardAsync(customerId, ct);
        var current = customer.InvoiceSettings?.DefaultPaymentMethod;
        if (change is not null && current?.Id != change.PaymentMethodId
            && (current is null || (change.Newest && change.Created >= current.Created)))
        {
            var method = await stripe.GetPaymentMethodAsync(change.PaymentMethodId, ct);
            if (method.CustomerId == customerId)
            {
                await stripe.SetDefaultPaymentMethodAsync(customerId, method.Id, ct);
                current = method;
            }
        }
        var card = current is { Type: "card" } ? SavedCard.Of(current) : null;
        await accounts.SaveCardAsync(userId, card, optIn: optInUserId is not null, ct);
        if (card is not null && card.PaymentMethodId != account?.DefaultPaymentMethod)
            await autoTopUps.CardChangedAsync(userId, ct);
        var cardText = card is null ? "none" : $"{card.Brand} ending {card.Last4}";
        if (account?.DefaultPaymentMethod == card?.PaymentMethodId && account?.PaysPerUse == true)
            StripeApplyReport.NoteUnchanged($"the card of {userId} was already {cardText}");
        else
            StripeApplyReport.NoteChanged($"card of {userId} set to {cardText}");
        logger.LogInformation("Card for {UserId} is now {Brand} {Last4} (event {StripeEventId})", userId, card?.Brand, card?.Last4, eventId);
    }

    /// <summary>The customer a payment method belonged to before it was detached (<c>previous_attributes.customer</c>).</summary>
    private static string? PreviousCustomer(Event stripeEvent) =>
        stripeEvent.Data.PreviousAttributes is Newtonsoft.Json.Linq.JObject previous ? previous.Value<string>("customer") : null;

    private async Task ApplyInvoiceAsync(Invoice invoice, long eventCreated, CancellationToken ct)
    {
        var subscriptionId = invoice.Parent?.SubscriptionDetails?.SubscriptionId;
        if (subscriptionId is null)
            return;
        var userId = await SyncSubscriptionAsync(subscriptionId, eventCreated, ct);
        if (invoice.Status == "paid" && invoice.Id is { } invoiceId)
        {
            await payments.RecordAsync(Payment.SubscriptionInvoice(userId, invoiceId, subscriptionId, invoice.AmountPaid, invoice.Currency)
                with { HostedInvoiceUrl = invoice.HostedInvoiceUrl, InvoicePdf = invoice.InvoicePdf }, ct);
            await lifecycle.InvoicePaidAsync(invoiceId, subscriptionId, invoice.BillingReason, ct);
        }
    }

    private const string UpsertSubscriptionSql = """
        INSERT INTO subscriptions (stripe_subscription_id, user_id, plan_key, status, current_period_start, current_period_end,
                                   cancel_at_period_end, last_event_created, updated_at, version)
        VALUES (@id, @userId, @planKey, @status, @periodStart, @periodEnd, @cancelAtPeriodEnd, @eventCreated, @now, 1)
        ON CONFLICT (stripe_subscription_id) DO UPDATE SET
            status = excluded.status,
            plan_key = excluded.plan_key,
            current_period_start = excluded.current_period_start,
            current_period_end = excluded.current_period_end,
            cancel_at_period_end = excluded.cancel_at_period_end,
            last_event_created = max(subscriptions.last_event_created, excluded.last_event_created),
            updated_at = excluded.updated_at,
            version = subscriptions.version + 1
        WHERE excluded.last_event_created >= subscriptions.last_event_created
          AND (@seenVersion IS NULL OR subscriptions.version = @seenVersion);
        """;

    private const string VersionSql = """
        SELECT version FROM subscriptions WHERE stripe_subscription_id = @id;
        """;

    /// <summary>
    /// How many times the subscription has been stored (-1: never). Read before asking Stripe, it lets the store refuse an
    /// answer that another writer's store overtook (<see cref="StoreSubscriptionAsync"/>).
    /// </summary>
    public async Task<long> SubscriptionVersionAsync(string subscriptionId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(VersionSql, new { id = subscriptionId }, cancellationToken: ct)) ?? -1;
    }

    /// <summary>
    /// Reads the subscription from Stripe (so the state written is the current one whatever the order of events) and
    /// stores it, unless a newer event already did. Returns the user it belongs to.
    /// </summary>
    public async Task<string> SyncSubscriptionAsync(string subscriptionId, long eventCreated, CancellationToken ct)
    {
        var seen = await SubscriptionVersionAsync(subscriptionId, ct);
        var subscription = await stripe.GetSubscriptionAsync(subscriptionId, ct);
        var userId = subscription.Metadata?.GetValueOrDefault("user_id") ?? await accounts.UserIdForCustomerAsync(subscription.CustomerId, ct)
            ?? throw new WebhookNotReadyException($"No user for subscription {subscriptionId} (customer {subscription.CustomerId})");
        subscription = await StoreSubscriptionAsync(subscription, userId, eventCreated, ct, seenVersion: seen);
        logger.LogInformation("Subscription {SubscriptionId} of {UserId} is {Status}", subscription.Id, userId, subscription.Status);
        // Dunning: read from Stripe just now, the plan waits on its latest invoice. Whichever event brings us here first
        // (invoice.payment_failed, customer.subscription.updated, a retry's failure) the customer hears once per invoice;
        // a late failure event for an invoice since paid finds the plan active and sends nothing.
        if (subscription.Status is "past_due" or "unpaid" && subscription.LatestInvoiceId is { } invoiceId)
            await notices.NotifyOnceAsync(BillingNotices.PaymentFailed, invoiceId, userId, ct);
        await KeepOneLiveSubscriptionAsync(subscription, userId, ct);
        if (subscription.Status == "canceled" && subscription.CancellationDetails?.Comment?.StartsWith(DuplicateOf, StringComparison.Ordinal) != true)
            await lifecycle.SubscriptionEndedAsync(subscription.Id, ct);
        return userId;
    }

    /// <summary>
    /// Stores a subscription the app just read from Stripe itself (the answer to its own change) as if an event of
    /// <paramref name="stripeTime"/> (Stripe's clock when it answered) had brought it: it shows at once, an event Stripe created
    /// earlier cannot overwrite it, and the change's own <c>customer.subscription.updated</c> follows as usual.
    /// </summary>
    /// <paramref name="alsoInTransaction"/> runs in the same write transaction (an admin's change records its audit entry there).
    /// <paramref name="seenVersion"/> is <see cref="SubscriptionVersionAsync"/> read before Stripe was asked.
    public Task StoreReadBackAsync(Subscription subscription, string userId, long stripeTime, long seenVersion, CancellationToken ct,
        Action<SqliteConnection, SqliteTransaction>? alsoInTransaction = null) =>
        StoreSubscriptionAsync(subscription, userId, stripeTime, ct, alsoInTransaction, seenVersion);

    private const string StoredSubscriptionSql = """
        SELECT status, cancel_at_period_end AS CancelAtPeriodEnd, current_period_end AS PeriodEnd FROM subscriptions WHERE stripe_subscription_id = @id;
        """;

    private sealed record StoredSubscription(string Status, long CancelAtPeriodEnd, DateTime? PeriodEnd)
    {
        public override string ToString() => Status + (CancelAtPeriodEnd == 1 ? " (canceling at period end)" : "") +
            (PeriodEnd is { } end ? $", period ends {end:yyyy-MM-dd HH:mm}" : "");
    }

    /// <summary>Times Stripe is asked again when other writers keep overtaking this one; then the event fails and is retried.</summary>
    private const int MaxRereads = 3;

    /// <summary>
    /// Stores the subscription as Stripe answered, unless an event newer than <paramref name="eventCreated"/> already wrote it.
    /// With <paramref name="seenVersion"/> (the row's version read before Stripe was asked) it is stored only if no one stored
    /// the subscription since: event times are whole seconds from Stripe's clocks, so a read answered before a change the
    /// app stored (a cancel in the same second) cannot be told from one after it by time. When someone did, Stripe is asked
    /// again, now after their store, and that answer is stored the same way. Without <paramref name="seenVersion"/> (Stripe's
    /// answer to the app's own cancel of a duplicate, a final state) only the event time decides. Returns what was stored.
    /// </summary>
    private async Task<Subscription> StoreSubscriptionAsync(Subscription subscription, string userId, long eventCreated, CancellationToken ct,
        Action<SqliteConnection, SqliteTransaction>? alsoInTransaction = null, long? seenVersion = null)
    {
        // Only a replay asks what was there before, to say what it changed; a delivery does not pay for the read.
        StoredSubscription? before = null;
        if (StripeApplyReport.IsCollecting)
        {
            await using var connection = await db.OpenAsync(ct);
            before = await connection.QuerySingleOrDefaultAsync<StoredSubscription>(new CommandDefinition(StoredSubscriptionSql, new { id = subscription.Id }, cancellationToken: ct));
        }
        int written;
        for (var reread = 0; ; reread++)
        {
            var args = StoreArgs(subscription, userId, eventCreated, seenVersion);
            var inTransaction = alsoInTransaction;
            written = await db.WriteAsync((connection, tx) =>
            {
                var rows = connection.Execute(UpsertSubscriptionSql, args, tx);
                inTransaction?.Invoke(connection, tx);
                return rows;
            }, ct);
            // The audit entry of an admin's change is written once, with the first attempt.
            alsoInTransaction = null;
            if (written > 0 || seenVersion is not { } seen)
                break;
            var now = await SubscriptionVersionAsync(subscription.Id, ct);
            if (now == seen)
                break; // refused by time: a newer event was applied
            if (reread == MaxRereads)
                throw new WebhookNotReadyException($"Subscription {subscription.Id} was stored by others {MaxRereads + 1} times while this read Stripe; applying again reads it afresh");
            logger.LogInformation("Subscription {SubscriptionId} was stored by another writer while Stripe answered this one; reading it again", subscription.Id);
            seenVersion = now;
            subscription = await stripe.GetSubscriptionAsync(subscription.Id, ct);
        }
        if (!StripeApplyReport.IsCollecting)
            return subscription;
        var item = subscription.Items?.Data?.FirstOrDefault();
        var after = new StoredSubscription(subscription.Status, subscription.CancelAtPeriodEnd ? 1 : 0,
            item?.CurrentPeriodEnd is { } e && e != default ? DateTime.SpecifyKind(e, DateTimeKind.Utc) : null);
        if (written == 0)
            StripeApplyReport.NoteUnchanged($"subscription {subscription.Id} kept as {before}: a newer event was already applied");
        else if (before is null)
            StripeApplyReport.NoteChanged($"stored subscription {subscription.Id} of {userId}: {after}");
        else if (before.ToString() != after.ToString())
            StripeApplyReport.NoteChanged($"subscription {subscription.Id}: {before} → {after}");
        else
            StripeApplyReport.NoteUnchanged($"subscription {subscription.Id} was already {after}");
        return subscription;
    }

    private object StoreArgs(Subscription subscription, string userId, long eventCreated, long? seenVersion)
    {
        var item = subscription.Items?.Data?.FirstOrDefault();
        return new
        {
            id = subscription.Id,
            userId,
            planKey = item?.Price?.LookupKey ?? subscription.Metadata?.GetValueOrDefault("plan_key") ?? PlanCatalog.SubscriptionUnlimited,
            status = subscription.Status,
            periodStart = item?.CurrentPeriodStart is { } start && start != default ? DateTime.SpecifyKind(start, DateTimeKind.Utc) : (DateTime?)null,
            periodEnd = item?.CurrentPeriodEnd is { } end && end != default ? DateTime.SpecifyKind(end, DateTimeKind.Utc) : (DateTime?)null,
            cancelAtPeriodEnd = subscription.CancelAtPeriodEnd ? 1 : 0,
            eventCreated,
            seenVersion,
            now = clock.GetUtcNow().UtcDateTime,
        };
    }

    /// <summary>What the app writes into <c>cancellation_details.comment</c> of a duplicate it cancels, followed by the subscription it keeps.</summary>
    public const string DuplicateOf = "duplicate of ";

    /// <summary>
    /// One live subscription per customer, even when Stripe made two (two Checkout Sessions paid in parallel): of the
    /// customer's live subscriptions at Stripe the oldest (Stripe's <c>created</c>, ties by id) is kept and every newer one is
    /// canceled at once and its payment refunded in full. Any event of either subscription gets here, in any order; a
    /// duplicate already canceled by us (its comment says so) only has its refund and notice completed, so a crash between
    /// the steps or a replay ends the same way: one cancel, one refund (idempotency key per charge), one notice.
    /// </summary>
    private async Task KeepOneLiveSubscriptionAsync(Subscription subscription, string userId, CancellationToken ct)
    {
        if (subscription.Status == "canceled" && subscription.CancellationDetails?.Comment is { } comment && comment.StartsWith(DuplicateOf, StringComparison.Ordinal))
        {
            await RefundDuplicateAsync(subscription, userId, ct);
            return;
        }
        if (!LiveSubscriptions.IsLive(subscription.Status) || subscription.CustomerId is not { } customerId)
            return;
        var live = (await stripe.ListSubscriptionsAsync(customerId, ct)).Data
            .Where(s => LiveSubscriptions.IsLive(s.Status))
            .OrderBy(s => s.Created).ThenBy(s => s.Id, StringComparer.Ordinal)
            .ToList();
        foreach (var newer in live.Skip(1))
        {
            Subscription canceled;
            try
            {
                canceled = await stripe.CancelSubscriptionNowAsync(newer.Id, DuplicateOf + live[0].Id, ct);
            }
            catch (StripeException ex) when (ex.StripeError?.Type == "invalid_request_error")
            {
                // Canceled meanwhile (a concurrent delivery of another event of this customer did it): read what Stripe has.
                canceled = await stripe.GetSubscriptionAsync(newer.Id, ct);
                if (canceled.Status != "canceled")
                    throw;
            }
            logger.LogWarning(BillingLogEvents.DuplicateSubscriptionCanceled, "Subscription {SubscriptionId} of {UserId} duplicated {KeptSubscriptionId}; canceled at once",
                newer.Id, userId, live[0].Id);
            StripeApplyReport.NoteChanged($"canceled subscription {newer.Id}, a duplicate of {live[0].Id}");
            // Stamped with Stripe's cancel time: the customer.subscription.deleted event on its way carries the same or later.
            var canceledAt = canceled.CanceledAt is { } at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)).ToUnixTimeSeconds() : 0;
            await StoreSubscriptionAsync(canceled, userId, canceledAt, ct);
            await RefundDuplicateAsync(canceled, userId, ct);
        }
    }

    /// <summary>
    /// Refunds in full every paid payment of the duplicate's invoice (it granted nothing: the plan is unlimited use, no ledger
    /// line to take back), records each refund in <c>payments</c>, and tells the customer once.
    /// </summary>
    private async Task RefundDuplicateAsync(Subscription duplicate, string userId, CancellationToken ct)
    {
        if (duplicate.LatestInvoiceId is { } invoiceId)
        {
            foreach (var paid in (await stripe.ListInvoicePaymentsAsync(invoiceId, ct)).Data.Where(p => p.Status == "paid"))
            {
                if (paid.Payment?.PaymentIntentId is not { } paymentIntentId
                    || (await stripe.GetPaymentIntentAsync(paymentIntentId, ct)).LatestChargeId is not { } chargeId)
                    continue;
                var charge = await stripe.GetChargeAsync(chargeId, ct);
                Refund refund;
                if (charge.AmountRefunded < charge.Amount)
                    refund = await stripe.RefundAsync(chargeId, null, $"duplicate-subscription:{duplicate.Id}", ct, reason: "duplicate");
                else if ((await stripe.ListRefundsAsync(chargeId, ct)).Data.FirstOrDefault() is { } earlier)
                    refund = earlier;
                else
                    continue;
                await payments.RecordAsync(Payment.Refund(userId, refund.Id, paymentIntentId, chargeId, PlanCatalog.SubscriptionUnlimited, refund.Amount,
                    refund.Currency ?? charge.Currency, refund.Status, null, null) with { ReceiptUrl = charge.ReceiptUrl }, ct);
            }
        }
        await notices.NotifyOnceAsync(BillingNotices.DuplicateSubscriptionRefunded, duplicate.Id, userId, ct);
    }

    private const string UsageChargeSql = """
        INSERT INTO usage_charges (usage_id, user_id, payment_intent_id, state, amount_minor, currency, created_at, updated_at)
        SELECT id, user_id, @paymentIntentId, @state, @amount, @currency, @now, @now FROM usage WHERE id = @usageId
        ON CONFLICT (usage_id) DO UPDATE
        SET state = excluded.state, payment_intent_id = coalesce(usage_charges.payment_intent_id, excluded.payment_intent_id), updated_at = excluded.updated_at,
            error = coalesce(@error, usage_charges.error), last_error_at = CASE WHEN @error IS NULL THEN usage_charges.last_error_at ELSE excluded.updated_at END
        WHERE usage_charges.state IN ('pending', 'authorised') OR (usage_charges.state = 'failed' AND excluded.state = 'captured');

        UPDATE payments SET status = @state, updated_at = @now
        WHERE kind = 'authorisation' AND stripe_id = @paymentIntentId AND status IN ('pending', 'authorised', 'failed');
        """;

    private const string OpenChargeSql = """
        SELECT count(*) FROM usage_charges WHERE usage_id = @usageId AND state IN ('pending', 'authorised');
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
        if (AutoTopUpCharges.TopUpId(intent) is not null)
        {
            // An auto top-up: granted like a bundle, keyed by the PaymentIntent id, whoever (this event or the job) comes first.
            await autoTopUps.SettleAsync(intent, ct);
            return;
        }
        if (intent.Metadata?.GetValueOrDefault("usage_id") is { } usageId)
        {
            // Stripe cancels a hold nobody captured by its deadline: the generation, if it was made, goes unpaid. Recorded on
            // the charge (shown on /admin/billing/captures) and alerted; nothing is taken from the customer afterwards.
            string? error = null;
            if (state == "canceled" && intent.CancellationReason == "automatic")
            {
                error = "Stripe canceled the hold automatically (its authorisation expired) before it was captured";
                var open = await db.ExecuteScalarAsync<long>(OpenChargeSql, new { usageId }, ct);
                if (open > 0)
                    logger.LogError(BillingLogEvents.HoldExpired, "Hold {PaymentIntentId} of usage {UsageId} expired at Stripe before it was settled; {Amount} {Currency} not charged",
                        intent.Id, usageId, intent.Amount, intent.Currency);
            }
            var moved = await db.ExecuteAsync(UsageChargeSql, new { usageId, state, error, paymentIntentId = intent.Id, amount = intent.Amount, currency = intent.Currency, now = clock.GetUtcNow().UtcDateTime }, ct);
            if (moved > 0)
                StripeApplyReport.NoteChanged($"the charge of generation {usageId} ({intent.Id}) is now {state}");
            else
                StripeApplyReport.NoteUnchanged($"the charge of generation {usageId} ({intent.Id}) was already settled");
            if (state == "captured")
                await payments.RecordAsync(Payment.Capture(intent.Metadata.GetValueOrDefault("user_id"), intent.Id, intent.LatestChargeId,
                    intent.AmountReceived, intent.Currency, usageId) with { ReceiptUrl = intent.LatestCharge?.ReceiptUrl }, ct);
            return;
        }

        // A bundle's PaymentIntent: fulfilment follows its Checkout Session; a refund finds the purchase by payment_intent_id.
        StripeApplyReport.NoteUnchanged($"{intent.Id} is a bundle's payment: its checkout session's events grant the credits");
    }

    /// <summary>
    /// Records each refund of the charge once (by refund id), each in its own write transaction, by the refund rules
    /// (<see cref="RefundRecorder"/>): a bundle's refunded share of credits is taken back. A refund an admin made from the app
    /// was recorded when Stripe answered; its event changes nothing again.
    /// </summary>
    private async Task ApplyChargeRefundedAsync(Charge charge, CancellationToken ct)
    {
        var refunds = charge.Refunds?.Data is { Count: > 0 } listed ? listed : (await stripe.ListRefundsAsync(charge.Id, ct)).Data;
        PaymentFunding? funding = null;
        if (charge.PaymentIntentId is { } paymentIntentId)
        {
            funding = await db.ReadAsync(connection => RefundRecorder.Funding(connection, null, paymentIntentId), ct);
            if (funding is null && (await stripe.GetPaymentIntentAsync(paymentIntentId, ct)).Metadata?.GetValueOrDefault("plan_key") is { } planKey
                && plans.Find(planKey)?.Kind == PlanKind.Bundle)
                throw new WebhookNotReadyException($"Charge {charge.Id} was refunded before its bundle purchase was recorded");
        }
        var userId = funding?.UserId ?? await accounts.UserIdForCustomerAsync(charge.CustomerId, ct);

        foreach (var refund in refunds.Where(r => r.Status is "succeeded" or "pending").OrderBy(r => r.Created))
        {
            var facts = new RefundFacts(refund.Id, charge.Id, charge.PaymentIntentId, refund.Amount, refund.Currency ?? charge.Currency, refund.Status,
                charge.Amount, charge.ReceiptUrl);
            var recorded = await db.WriteAsync((connection, tx) => refundRecorder.Record(connection, tx, facts, funding, userId), ct);
            refundRecorder.Log(facts, recorded, userId);
            if (!recorded.Applied)
                StripeApplyReport.NoteUnchanged($"refund {refund.Id} was already recorded");
            else
                StripeApplyReport.NoteChanged($"recorded refund {refund.Id} of {Shared.Money.Format(refund.Amount, facts.Currency)} ({refund.Status})" +
                    (recorded.Taken > 0 ? $" and took back {recorded.Taken} prepaid credits from {userId}" : ""));
        }
        // The charge's receipt now lists its refunds; the purchase or capture it paid for links to the same page.
        await payments.RecordReceiptAsync(charge.Id, charge.PaymentIntentId, charge.ReceiptUrl, ct);
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

}
