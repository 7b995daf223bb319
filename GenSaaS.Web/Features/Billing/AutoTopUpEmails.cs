using System.Globalization;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Emails;
using GenSaaS.Web.Features.Plans;
using Hangfire;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// Emails an auto top-up once each way (<see cref="Mailer.SendOnceAsync{TEmail}"/>, keyed by the top-up's id): charged, with
/// what it bought and Stripe's receipt (<c>Emails/Templates/AutoTopUpCharged</c>); or failed: fix your card, or, after the
/// third failure in a row, auto top-up is off (<c>Emails/Templates/AutoTopUpFailed</c>).
/// </summary>
public sealed class AutoTopUpEmailJob(AutoTopUps topUps, PlanCatalog plans, Mailer mailer, EmailLinks links, Data.Db db, StripeGateway stripe,
    Payments payments, ILogger<AutoTopUpEmailJob> logger)
{
    private const string ReceiptSql = """
        SELECT receipt_url FROM payments WHERE kind = 'bundle' AND stripe_id = @paymentIntentId;
        """;

    /// <summary>The receipt of a top-up whose credits were granted; nothing for one that is not (or no longer) succeeded.</summary>
    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task SendChargedAsync(long topUpId)
    {
        if (await topUps.GetAsync(topUpId) is not { Status: "succeeded" } topUp)
            return;
        // An auto top-up's payment row is a bundle keyed by its PaymentIntent (Payment.AutoTopUp).
        var receiptUrl = topUp.PaymentIntentId is { } intentId
            ? await db.ExecuteScalarAsync<string?>(ReceiptSql, new { paymentIntentId = intentId }) ?? await ReceiptFromStripeAsync(intentId)
            : null;
        await mailer.SendOnceAsync(topUpId.ToString(CultureInfo.InvariantCulture), topUp.UserId, _ => Task.FromResult<AutoTopUpCharged?>(new AutoTopUpCharged(
            topUp.Threshold, plans.Find(topUp.PlanKey)?.Name ?? topUp.PlanKey, BillingOverview.Money(topUp.AmountMinor, topUp.Currency), topUp.Credits,
            receiptUrl, links.Billing)));
    }

    /// <summary>
    /// Stripe's receipt of the top-up's charge, stored on its payment row for the billing pages too. A courtesy: when Stripe
    /// cannot be reached the email goes without it rather than late.
    /// </summary>
    private async Task<string?> ReceiptFromStripeAsync(string paymentIntentId)
    {
        try
        {
            if ((await stripe.GetPaymentIntentAsync(paymentIntentId, CancellationToken.None)).LatestChargeId is not { } chargeId)
                return null;
            var receiptUrl = (await stripe.GetChargeAsync(chargeId, CancellationToken.None)).ReceiptUrl;
            await payments.RecordReceiptAsync(chargeId, paymentIntentId, receiptUrl, CancellationToken.None);
            return receiptUrl;
        }
        catch (Exception ex) when (ex is Stripe.StripeException || StripeGateway.IsUnavailable(ex, CancellationToken.None))
        {
            logger.LogWarning(ex, "The receipt of auto top-up payment {PaymentIntentId} could not be read from Stripe; the email goes without it", paymentIntentId);
            return null;
        }
    }

    public const string FailedSubject = "Your GenSaaS auto top-up did not go through";

    public const string TurnedOffSubject = "Your GenSaaS auto top-up is turned off";

    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task SendAsync(long topUpId)
    {
        if (await topUps.GetAsync(topUpId) is not { Status: "failed" } topUp)
            return;
        await mailer.SendOnceAsync(topUpId.ToString(CultureInfo.InvariantCulture), topUp.UserId, _ => Task.FromResult<AutoTopUpFailed?>(Compose(topUp)));
    }

    private AutoTopUpFailed Compose(AutoTopUps.TopUp topUp)
    {
        var reason = topUp.ErrorCode switch
        {
            "authentication_required" => "your bank asks you to confirm the payment (3-D Secure), which cannot be done while you are away",
            AutoTopUpCharges.NoCardCode => "there is no saved card to charge",
            "stripe_unavailable" => "our payment provider did not answer",
            _ => "your card was declined" + (topUp.Error is { Length: > 0 } message ? $" ({message.TrimEnd('.')})" : ""),
        };
        return new AutoTopUpFailed(
            topUp.TurnedOff ? "is turned off" : "did not go through",
            topUp.Threshold, plans.Find(topUp.PlanKey)?.Name ?? topUp.PlanKey, BillingOverview.Money(topUp.AmountMinor, topUp.Currency), reason,
            AutoTopUps.FailuresBeforeTurnedOff, topUp.TurnedOff ? "yes" : null, topUp.TurnedOff ? null : "yes", links.BaseUrl + Index.UpdateCardUrl);
    }
}
