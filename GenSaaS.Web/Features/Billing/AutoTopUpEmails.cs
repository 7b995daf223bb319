using System.Text.Encodings.Web;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Plans;
using GenSaaS.Web.Features.Shared;
using Hangfire;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.UI.Services;

namespace GenSaaS.Web.Features.Billing;

/// <summary>The two emails of a failed auto top-up: fix your card; or, after the third failure in a row, auto top-up is off.</summary>
public static class AutoTopUpEmails
{
    public const string FailedSubject = "Your GenSaaS auto top-up did not go through";

    public const string TurnedOffSubject = "Your GenSaaS auto top-up is turned off";

    /// <summary>The subject and HTML body for a failed top-up; <paramref name="billingUrl"/> is the billing page that fixes the card.</summary>
    public static (string Subject, string Body) Failed(AutoTopUps.TopUp topUp, string bundleName, string billingUrl)
    {
        var link = HtmlEncoder.Default.Encode(billingUrl);
        var why = topUp.ErrorCode switch
        {
            "authentication_required" => "your bank asks you to confirm the payment (3-D Secure), which cannot be done while you are away",
            AutoTopUpCharges.NoCardCode => "there is no saved card to charge",
            _ => "your card was declined" + (topUp.Error is { Length: > 0 } message ? $" ({HtmlEncoder.Default.Encode(message.TrimEnd('.'))})" : ""),
        };
        var price = BillingOverview.Money(topUp.AmountMinor, topUp.Currency);
        var intro = $"""
            <p>Hello,</p>
            <p>Your prepaid credits fell below {topUp.Threshold}, so auto top-up tried to buy {HtmlEncoder.Default.Encode(bundleName)} ({price}) on your saved
            card, but {why}. You were not charged and no credits were added.</p>
            """;
        if (topUp.TurnedOff)
            return (TurnedOffSubject, intro + $"""
                <p>This is the {AutoTopUps.FailuresBeforeTurnedOff}rd top-up in a row that failed, so we turned auto top-up off.</p>
                <p><a href="{link}">Fix your card on your billing page</a> (the button opens Stripe's secure portal, where your bank can ask you to confirm it),
                then turn auto top-up on again there.</p>
                """);
        return (FailedSubject, intro + $"""
            <p><a href="{link}">Fix your card on your billing page</a> (the button opens Stripe's secure portal, where your bank can ask you to confirm it).
            Auto top-up tries again the next time your credits fall below {topUp.Threshold}, or as soon as you save its settings.</p>
            """);
    }
}

/// <summary>Emails a failed auto top-up once: it claims the row's <c>emailed_at</c> before sending and gives the claim back when the mail fails.</summary>
public sealed class AutoTopUpEmailJob(Db db, AutoTopUps topUps, PlanCatalog plans, UserManager<IdentityUser> users, IEmailSender email, PublicAddress publicAddress,
    IServer server, TimeProvider clock, ILogger<AutoTopUpEmailJob> logger)
{
    private const string ClaimSql = """
        UPDATE auto_top_ups SET emailed_at = @now WHERE id = @id AND status = 'failed' AND emailed_at IS NULL;
        """;

    private const string ReleaseSql = "UPDATE auto_top_ups SET emailed_at = NULL WHERE id = @id;";

    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task SendAsync(long topUpId)
    {
        if (await db.ExecuteAsync(ClaimSql, new { id = topUpId, now = clock.GetUtcNow().UtcDateTime }) != 1)
            return;
        try
        {
            if (await topUps.GetAsync(topUpId) is not { } topUp || await users.FindByIdAsync(topUp.UserId) is not { Email: { } to })
                return;
            var (subject, body) = AutoTopUpEmails.Failed(topUp, plans.Find(topUp.PlanKey)?.Name ?? topUp.PlanKey, BaseUrl() + Index.UpdateCardUrl);
            await email.SendEmailAsync(to, subject, body);
            logger.LogInformation("Auto top-up {TopUpId} failure emailed to {UserId}", topUpId, topUp.UserId);
        }
        catch
        {
            await db.ExecuteAsync(ReleaseSql, new { id = topUpId });
            throw;
        }
    }

    private string BaseUrl() =>
        publicAddress.Configured
        ?? server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()?.TrimEnd('/')
        ?? "http://localhost";
}
