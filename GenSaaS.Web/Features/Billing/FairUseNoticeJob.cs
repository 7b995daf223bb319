using GenSaaS.Web.Features.Emails;
using Hangfire;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// Emails a subscriber once when they reach 80% and 100% of their plan's fair-use level in a period: the reservation records
/// the crossing once (<c>usage_notices</c>), and the mail goes out once per subscription period even when this job runs twice.
/// </summary>
public sealed class FairUseNoticeJob(Mailer mailer, AccountSummaries summaries, ILogger<FairUseNoticeJob> logger)
{
    [AutomaticRetry(Attempts = 5)]
    public async Task SendAsync(string userId, string subscriptionId, int threshold, CancellationToken ct)
    {
        var summary = await summaries.GetAsync(userId, ct);
        var reference = $"{subscriptionId}:{summary.PeriodStart:yyyy-MM-ddTHH:mm:ss}";
        var sent = threshold >= 100
            ? await mailer.SendOnceAsync(reference, userId, _ => Task.FromResult<FairUseReached?>(new(
                summary.UsedThisPeriod, $"{summary.PeriodStart:yyyy-MM-dd}", summary.SoftLimit ?? 0, summary.HardCap ?? 0, $"{summary.PeriodEnd:yyyy-MM-dd}")), ct)
            : await mailer.SendOnceAsync(reference, userId, _ => Task.FromResult<FairUseWarning?>(new(
                summary.UsedThisPeriod, $"{summary.PeriodStart:yyyy-MM-dd}", summary.SoftLimit ?? 0, summary.HardCap ?? 0, $"{summary.PeriodEnd:yyyy-MM-dd}")), ct);
        if (sent)
            logger.LogInformation("Fair-use notice {Threshold}% sent to {UserId} for subscription {SubscriptionId}", threshold, userId, subscriptionId);
    }
}
