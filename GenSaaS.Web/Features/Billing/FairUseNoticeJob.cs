using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.UI.Services;
using Hangfire;

namespace GenSaaS.Web.Features.Billing;

/// <summary>Emails a subscriber once when they reach 80% and 100% of their plan's fair-use level in a period.</summary>
public sealed class FairUseNoticeJob(UserManager<IdentityUser> users, IEmailSender email, AccountSummaries summaries, ILogger<FairUseNoticeJob> logger)
{
    [AutomaticRetry(Attempts = 5)]
    public async Task SendAsync(string userId, string subscriptionId, int threshold, CancellationToken ct)
    {
        var user = await users.FindByIdAsync(userId);
        if (user?.Email is null)
            return;
        var summary = await summaries.GetAsync(userId, ct);
        var subject = threshold >= 100
            ? "You have reached your plan's fair-use level"
            : "You have used 80% of your plan's fair-use level";
        var body = $"""
            <p>You have made {summary.UsedThisPeriod} images in the current period (since {summary.PeriodStart:yyyy-MM-dd}).</p>
            <p>Your plan's fair-use level is {summary.SoftLimit} images; beyond it generation continues with a warning,
            and it stops at {summary.HardCap} until the period renews on {summary.PeriodEnd:yyyy-MM-dd}.</p>
            """;
        await email.SendEmailAsync(user.Email, subject, body);
        logger.LogInformation("Fair-use notice {Threshold}% sent to {UserId} for subscription {SubscriptionId}", threshold, userId, subscriptionId);
    }
}
