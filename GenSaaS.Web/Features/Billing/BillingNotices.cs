using System.Text.Encodings.Web;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Shared;
using Hangfire;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.UI.Services;

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
public sealed class BillingNoticeJob(Db db, UserManager<IdentityUser> users, IEmailSender email, PublicAddress publicAddress, IServer server,
    TimeProvider clock, ILogger<BillingNoticeJob> logger)
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
            // A link to the billing page, not to a portal session: that expires within minutes and opens for whoever holds
            // it; the page's button opens the portal for the customer who is signed in.
            var link = HtmlEncoder.Default.Encode(BaseUrl() + "/billing");
            var (subject, body) = kind == BillingNotices.DuplicateSubscriptionRefunded
                ? ("You were subscribed twice: we canceled and refunded the second",
                    $"""
                    <p>Hello,</p>
                    <p>Two payments for your monthly plan went through at the same time (two tabs or a double click). You keep one
                    subscription; we canceled the second at once and refunded its payment in full. The refund reaches your
                    card within 5 to 10 business days, depending on your bank.</p>
                    <p>Nothing else changed: <a href="{link}">see your billing page</a>.</p>
                    """)
                : kind == BillingNotices.PaymentFailed
                ? ("Your GenSaaS payment failed: update your card",
                    $"""
                    <p>Hello,</p>
                    <p>We could not charge your card for your monthly plan. Generation is paused until the payment goes through;
                    Stripe tries the card again over the next days.</p>
                    <p><a href="{link}">Update your card</a> on your billing page (the button opens Stripe's secure portal).</p>
                    """)
                : ("Your GenSaaS payment did not go through",
                    $"""
                    <p>Hello,</p>
                    <p>Your bank did not complete the payment for your purchase, so nothing was added to your account and nothing was charged.</p>
                    <p><a href="{link}">Go to your billing page</a> to try again with another payment method.</p>
                    """);
            await email.SendEmailAsync(to, subject, body);
            logger.LogInformation("Billing notice {Kind} for {StripeId} sent to {UserId}", kind, stripeId, userId);
        }
        catch
        {
            await db.ExecuteAsync(ReleaseSql, new { kind, stripeId });
            throw;
        }
    }

    /// <summary><c>App:PublicBaseUrl</c>; without it (Development only) the address the app listens on, never a request's Host.</summary>
    private string BaseUrl() =>
        publicAddress.Configured
        ?? server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()?.TrimEnd('/')
        ?? "http://localhost";
}
