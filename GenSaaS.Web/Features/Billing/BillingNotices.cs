using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Emails;
using Hangfire;
using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// Emails about a payment that needs the customer: a renewal that could not be charged (dunning) and an asynchronous
/// Checkout payment that failed. One per Stripe object (<c>billing_notices</c>), however often and in whatever order
/// Stripe tells us; the mail itself goes out from <see cref="BillingNoticeJob"/>.
/// </summary>
public sealed class BillingNotices(Db db, IBackgroundJobClient jobs, TimeProvider clock)
{
    /// <summary>A subscription's renewal invoice could not be charged; keyed by the invoice id.</summary>
    public const string PaymentFailed = "payment_failed";

    /// <summary>A bank debit or other delayed payment of a Checkout Session failed; keyed by the session id.</summary>
    public const string AsyncPaymentFailed = "async_payment_failed";

    /// <summary>A second subscription Stripe made (two checkouts paid in parallel) was canceled and refunded; keyed by that subscription's id.</summary>
    public const string DuplicateSubscriptionRefunded = "duplicate_subscription_refunded";

    private const string RecordSql = """
        INSERT INTO billing_notices (kind, stripe_id, user_id, created_at) VALUES (@kind, @stripeId, @userId, @now)
        ON CONFLICT (kind, stripe_id) DO NOTHING;
        SELECT sent_at IS NULL FROM billing_notices WHERE kind = @kind AND stripe_id = @stripeId;
        """;

    /// <summary>
    /// Records the notice once and queues its email while it has not gone out. A second queued job for the same notice
    /// finds it claimed and sends nothing (<see cref="BillingNoticeJob"/>).
    /// </summary>
    public async Task NotifyOnceAsync(string kind, string stripeId, string userId, CancellationToken ct)
    {
        var unsent = await db.ExecuteScalarAsync<long>(RecordSql, new { kind, stripeId, userId, now = clock.GetUtcNow().UtcDateTime }, ct);
        if (unsent == 1)
            jobs.Enqueue<BillingNoticeJob>(job => job.SendAsync(kind, stripeId));
    }
}

/// <summary>Sends one billing notice. It claims the notice before sending and gives the claim back when the mail fails, so a notice goes out once.</summary>
public sealed class BillingNoticeJob(Db db, UserManager<IdentityUser> users, Mailer mailer, EmailLinks links, TimeProvider clock, ILogger<BillingNoticeJob> logger)
{
    private const string ClaimSql = """
        UPDATE billing_notices SET sent_at = @now WHERE kind = @kind AND stripe_id = @stripeId AND sent_at IS NULL
        RETURNING user_id;
        """;

    private const string ReleaseSql = "UPDATE billing_notices SET sent_at = NULL WHERE kind = @kind AND stripe_id = @stripeId;";

    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task SendAsync(string kind, string stripeId)
    {
        var userId = await db.ExecuteScalarAsync<string>(ClaimSql, new { kind, stripeId, now = clock.GetUtcNow().UtcDateTime });
        if (userId is null)
            return;
        try
        {
            if (await users.FindByIdAsync(userId) is not { Email: { } to })
                return;
            Email email = kind switch
            {
                BillingNotices.DuplicateSubscriptionRefunded => new DuplicateSubscriptionRefunded(links.Billing),
                BillingNotices.PaymentFailed => new RenewalFailed(links.Billing),
                _ => new AsyncPaymentFailed(links.Billing),
            };
            await mailer.SendAsync(to, email, userId);
            logger.LogInformation("Billing notice {Kind} for {StripeId} sent to {UserId}", kind, stripeId, userId);
        }
        catch
        {
            await db.ExecuteAsync(ReleaseSql, new { kind, stripeId });
            throw;
        }
    }
}
