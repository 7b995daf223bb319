using System.Globalization;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Emails;
using GenSaaS.Web.Features.Plans;
using Hangfire;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// Emails a failed auto top-up once (<see cref="Mailer.SendOnceAsync{TEmail}"/>, keyed by the top-up's id): fix your card; or,
/// after the third failure in a row, auto top-up is off. The template is <c>Emails/Templates/AutoTopUpFailed</c>.
/// </summary>
public sealed class AutoTopUpEmailJob(AutoTopUps topUps, PlanCatalog plans, Mailer mailer, EmailLinks links)
{
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
