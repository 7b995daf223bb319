using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Plans;
using Hangfire;
using Stripe;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// Charges an auto top-up (<c>auto_top_ups</c>, recorded pending by the reservation that crossed the threshold): one
/// off-session PaymentIntent on the saved card, confirmed at once, keyed <c>auto-top-up:{id}</c> so every retry is the same
/// request at Stripe. A payment that succeeded grants the bundle's credits like a bought bundle (<c>payment_intent.succeeded</c>
/// or the job's own answer, whichever comes first, idempotent on the PaymentIntent id); a decline or
/// <c>authentication_required</c> fails the top-up and emails the customer, the third in a row turns auto top-up off. While the
/// operator's flags (<c>billing</c>, <c>auto_top_up</c>) are off for the customer, a top-up still pending is canceled instead of
/// charged (see <see cref="PurchaseFlags.AutoTopUpOffByAsync"/>).
/// </summary>
public sealed class AutoTopUpCharges(
    AutoTopUps topUps,
    CreditLedger ledger,
    StripeGateway stripe,
    BillingAccounts accounts,
    Payments payments,
    PlanCatalog plans,
    PurchaseFlags flags,
    IBackgroundJobClient jobs,
    TimeProvider clock,
    ILogger<AutoTopUpCharges> logger)
{
    /// <summary>The PaymentIntent's metadata key naming the top-up it pays for.</summary>
    public const string MetadataKey = "auto_top_up_id";

    /// <summary>The code a top-up fails with when there is no saved card to charge.</summary>
    public const string NoCardCode = "no_saved_card";

    /// <summary>The code a top-up is canceled with when the flag <paramref name="flag"/> stopped it: <c>billing_off</c> or <c>auto_top_up_off</c>.</summary>
    public static string FlagOffCode(string flag) => flag + "_off";

    /// <summary>A pending top-up untouched for this long is charged again by the sweep (its job never ran, or Stripe's answer was lost).</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(2);

    /// <summary>After this many attempts without an answer from Stripe the sweep gives up on a top-up (a late success still grants).</summary>
    public const int MaxAttempts = 10;

    /// <summary>Charges the top-up if it is still pending; safe to run any number of times.</summary>
    public async Task ChargeAsync(long topUpId, CancellationToken ct)
    {
        if (await topUps.GetAsync(topUpId, ct) is not { Status: "pending" } topUp)
            return;
        var settings = await topUps.ReadAsync(topUp.UserId, ct);
        if (!settings.Enabled)
        {
            // Turned off after the crossing and before the charge: the customer no longer wants it.
            if (await topUps.CancelAsync(topUpId, "turned_off", "Auto top-up was turned off before the charge.", ct))
                logger.LogInformation(BillingLogEvents.AutoTopUpFailed, "Auto top-up {TopUpId} of {UserId} canceled: turned off before the charge", topUpId, topUp.UserId);
            return;
        }
        if (await flags.AutoTopUpOffByAsync(topUp.UserId) is { } offBy)
        {
            // The operator's flag went off after the crossing: checked here, at run time, so a queued job, a Hangfire retry or
            // the sweep buys nothing. Re-armed, settings kept: the first crossing after the flag is back on tops up, once.
            if (await topUps.SkipAsync(topUpId, FlagOffCode(offBy), PurchaseFlags.AutoTopUpRefusal(offBy), ct))
                logger.LogInformation(BillingLogEvents.AutoTopUpFailed, "Auto top-up {TopUpId} of {UserId} canceled: the {Flag} flag is off, nothing charged",
                    topUpId, topUp.UserId, offBy);
            return;
        }
        if (topUp.Attempts >= MaxAttempts)
        {
            await FailAsync(topUp, null, "stripe_unavailable", "Stripe did not answer the payment after several attempts.", ct);
            return;
        }
        var customer = await accounts.FindAsync(topUp.UserId, ct);
        if (customer?.DefaultPaymentMethod is not { } paymentMethodId)
        {
            await FailAsync(topUp, null, NoCardCode, "There is no saved card to charge.", ct);
            return;
        }

        await topUps.AttemptAsync(topUpId, ct);
        PaymentIntent intent;
        try
        {
            intent = await stripe.CreateTopUpAsync(topUp.Id, customer.StripeCustomerId, paymentMethodId, topUp.AmountMinor, topUp.Currency, topUp.UserId,
                topUp.PlanKey, Description(topUp.PlanKey), ct);
        }
        catch (Exception ex) when (StripeGateway.IsUnavailable(ex, ct))
        {
            // The payment may exist at Stripe with its answer lost: the top-up stays pending and the same key asks again.
            logger.LogWarning(BillingLogEvents.StripeUnavailable, ex, "Auto top-up {TopUpId} got no answer from Stripe: {Reason}", topUpId, ex.Message);
            await topUps.NoteErrorAsync(topUpId, "Stripe did not answer: " + ex.Message, CancellationToken.None);
            throw;
        }
        catch (StripeException ex) when (ex.StripeError?.Type == "card_error")
        {
            var code = ex.StripeError.Code ?? "card_declined";
            if (ex.StripeError.PaymentIntent is { } declined)
                await CancelLeftOverAsync(topUp.Id, declined, ct);
            await FailAsync(topUp, ex.StripeError.PaymentIntent?.Id, code, ex.StripeError.Message ?? ex.Message, ct);
            return;
        }
        await SettleAsync(intent, ct);
    }

    /// <summary>
    /// Applies what a PaymentIntent of a top-up says (from the job's own answer or a webhook): succeeded grants the credits,
    /// a decline fails it, 3-D Secure wanted off session fails it <c>authentication_required</c>; anything else waits.
    /// </summary>
    public async Task SettleAsync(PaymentIntent intent, CancellationToken ct)
    {
        if (TopUpId(intent) is not { } topUpId || await topUps.GetAsync(topUpId, ct) is not { } topUp)
            return;
        switch (intent.Status)
        {
            case "succeeded":
                var plan = plans.Find(topUp.PlanKey);
                var grant = await ledger.GrantTopUpAsync(topUpId, intent.Id, $"Auto top-up: {plan?.Name ?? topUp.PlanKey}", ct);
                await payments.RecordAsync(Payment.AutoTopUp(topUp.UserId, intent.Id, intent.LatestChargeId, topUp.PlanKey, intent.AmountReceived,
                    intent.Currency, "paid", topUp.Credits, grant?.EntryId) with { ReceiptUrl = intent.LatestCharge?.ReceiptUrl }, ct);
                if (grant is { Applied: true })
                {
                    logger.LogInformation(BillingLogEvents.CreditsGranted, "Auto top-up {TopUpId} ({PaymentIntentId}) granted {Credits} credits to {UserId}",
                        topUpId, intent.Id, topUp.Credits, topUp.UserId);
                    Webhooks.StripeApplyReport.NoteChanged($"granted {topUp.Credits} prepaid credits to {topUp.UserId} for auto top-up {topUpId} ({intent.Id})");
                }
                else
                    Webhooks.StripeApplyReport.NoteUnchanged($"the credits of auto top-up {topUpId} ({intent.Id}) were already granted");
                // Queued on every settle, not only the one that granted: a crash between the grant and here is made good by
                // the next webhook or job run, and the email still goes out once (keyed by the top-up).
                if (grant is not null)
                    jobs.Enqueue<AutoTopUpEmailJob>(job => job.SendChargedAsync(topUpId));
                break;
            case "requires_action":
                await CancelLeftOverAsync(topUpId, intent, ct);
                await FailAsync(topUp, intent.Id, "authentication_required", "Your bank asks you to confirm the payment (3-D Secure), which cannot be done while you are away.", ct);
                break;
            case "requires_payment_method" when intent.LastPaymentError is { } error:
                await FailAsync(topUp, intent.Id, error.Code ?? "card_declined", error.Message ?? "Your card was declined.", ct);
                break;
            case "canceled" when topUp.Status == "pending":
                await FailAsync(topUp, intent.Id, intent.LastPaymentError?.Code ?? "canceled", intent.LastPaymentError?.Message ?? "The payment was canceled.", ct);
                break;
        }
    }

    /// <summary>A new card was saved for the customer: re-arms auto top-up that a failed charge suspended (see <see cref="AutoTopUps.RearmForNewCardAsync"/>).</summary>
    public async Task CardChangedAsync(string userId, CancellationToken ct)
    {
        if (await topUps.RearmForNewCardAsync(userId, ct))
        {
            logger.LogInformation("Auto top-up of {UserId} re-armed: a new card was saved", userId);
            Webhooks.StripeApplyReport.NoteChanged($"auto top-up of {userId} re-armed for the new card");
        }
    }

    /// <summary>The top-up a PaymentIntent pays for, from its metadata; null for any other PaymentIntent.</summary>
    public static long? TopUpId(PaymentIntent intent) =>
        intent.Metadata?.GetValueOrDefault(MetadataKey) is { } text && long.TryParse(text, System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out var id) ? id : null;

    private async Task FailAsync(AutoTopUps.TopUp topUp, string? paymentIntentId, string code, string message, CancellationToken ct)
    {
        var failed = await topUps.FailAsync(topUp.Id, paymentIntentId, code, message, ct);
        if (!failed.Failed)
            return;
        logger.LogWarning(BillingLogEvents.AutoTopUpFailed, "Auto top-up {TopUpId} of {UserId} failed: {Code} {Message}{TurnedOff}",
            topUp.Id, topUp.UserId, code, message, failed.TurnedOff ? " (auto top-up turned off)" : "");
        if (paymentIntentId is not null)
            await payments.RecordAsync(Payment.AutoTopUp(topUp.UserId, paymentIntentId, null, topUp.PlanKey, topUp.AmountMinor, topUp.Currency, "failed", null, null), ct);
        jobs.Enqueue<AutoTopUpEmailJob>(job => job.SendAsync(topUp.Id));
    }

    /// <summary>Cancels a PaymentIntent that did not pay, so nothing can complete it later; a failure here is only logged.</summary>
    private async Task CancelLeftOverAsync(long topUpId, PaymentIntent intent, CancellationToken ct)
    {
        if (intent.Status is not ("requires_action" or "requires_payment_method" or "requires_confirmation"))
            return;
        try
        {
            await stripe.CancelTopUpAsync(topUpId, intent.Id, ct);
        }
        catch (Exception ex) when (ex is StripeException || StripeGateway.IsUnavailable(ex, ct))
        {
            logger.LogWarning(ex, "The unpaid PaymentIntent {PaymentIntentId} of auto top-up {TopUpId} could not be canceled", intent.Id, topUpId);
        }
    }

    private string Description(string planKey) => $"GenSaaS auto top-up: {plans.Find(planKey)?.Name ?? planKey}";

    /// <summary>Charges again every pending top-up left untouched (its job lost, Stripe's answer lost); returns how many it tried.</summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        var stale = await topUps.StalePendingAsync(clock.GetUtcNow().UtcDateTime - StaleAfter, ct);
        foreach (var id in stale)
        {
            try
            {
                await ChargeAsync(id, ct);
            }
            catch (Exception ex) when (ex is StripeException || StripeGateway.IsUnavailable(ex, ct))
            {
                logger.LogWarning(ex, "Sweep: auto top-up {TopUpId} still has no answer from Stripe", id);
            }
        }
        return stale.Count;
    }
}

/// <summary>Charges one auto top-up; Stripe's silence is retried by Hangfire and, after that, by the sweep.</summary>
public sealed class AutoTopUpJob(AutoTopUpCharges charges)
{
    public static void Enqueue(IBackgroundJobClient jobs, long topUpId) => jobs.Enqueue<AutoTopUpJob>(job => job.RunAsync(topUpId, CancellationToken.None));

    [AutomaticRetry(Attempts = 3, DelaysInSeconds = [5, 30, 120])]
    public Task RunAsync(long topUpId, CancellationToken ct) => charges.ChargeAsync(topUpId, ct);
}

/// <summary>Every minute: charges the pending top-ups nobody finished.</summary>
public sealed class AutoTopUpSweepJob(AutoTopUpCharges charges)
{
    public const string RecurringId = "billing-auto-top-up-sweep";

    [AutomaticRetry(Attempts = 0)]
    public Task RunAsync(CancellationToken ct) => charges.SweepAsync(ct);
}
