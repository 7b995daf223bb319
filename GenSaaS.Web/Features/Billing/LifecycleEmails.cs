using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Emails;
using GenSaaS.Web.Features.Plans;
using Hangfire;
using Stripe;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// Queues the emails of a customer's billing life — a bundle's receipt, a subscription started, renewed, ended — once the
/// webhook's state is written; <see cref="LifecycleEmailJob"/> sends each once per event (<see cref="Mailer.SendOnceAsync{TEmail}"/>).
/// An email already sent is not queued again, so replays and the many events of one subscription cost one read each.
/// </summary>
public sealed class LifecycleEmails(IBackgroundJobClient jobs, SentEmails sent)
{
    /// <summary>A bundle's Checkout Session is paid and its payment row written.</summary>
    public async Task BundlePaidAsync(string sessionId, CancellationToken ct)
    {
        if (!await sent.WasSentAsync<PurchaseReceipt>(sessionId, ct))
            jobs.Enqueue<LifecycleEmailJob>(job => job.PurchaseReceiptAsync(sessionId, CancellationToken.None));
    }

    /// <summary>A subscription invoice is paid and its payment row written: the first one starts the plan, a cycle's renews it.</summary>
    public async Task InvoicePaidAsync(string invoiceId, string subscriptionId, string? billingReason, CancellationToken ct)
    {
        if (billingReason == "subscription_create" && !await sent.WasSentAsync<SubscriptionStarted>(subscriptionId, ct))
            jobs.Enqueue<LifecycleEmailJob>(job => job.SubscriptionStartedAsync(subscriptionId, invoiceId, CancellationToken.None));
        else if (billingReason == "subscription_cycle" && !await sent.WasSentAsync<SubscriptionRenewed>(invoiceId, ct))
            jobs.Enqueue<LifecycleEmailJob>(job => job.SubscriptionRenewedAsync(invoiceId, CancellationToken.None));
    }

    /// <summary>Stripe says the subscription is canceled (not a duplicate the app canceled: that one has its own email).</summary>
    public async Task SubscriptionEndedAsync(string subscriptionId, CancellationToken ct)
    {
        if (!await sent.WasSentAsync<SubscriptionCanceled>(subscriptionId, ct))
            jobs.Enqueue<LifecycleEmailJob>(job => job.SubscriptionCanceledAsync(subscriptionId, CancellationToken.None));
    }
}

/// <summary>
/// Sends one lifecycle email from what the webhook stored (<c>payments</c>, <c>subscriptions</c>), never from the event itself,
/// so a job queued by a replay says the same as the first. Runs twice safely: the mail goes out once per event.
/// </summary>
public sealed class LifecycleEmailJob(Db db, Mailer mailer, EmailLinks links, PlanCatalog plans, StripeGateway stripe, ILogger<LifecycleEmailJob> logger)
{
    private const string BundleSql = """
        SELECT user_id AS UserId, plan_key AS PlanKey, amount_minor AS AmountMinor, currency, credits, payment_intent_id AS PaymentIntentId
        FROM payments WHERE kind = 'bundle' AND stripe_id = @sessionId AND status = 'paid' AND user_id IS NOT NULL;
        """;

    private sealed record PaidBundle(string UserId, string? PlanKey, long AmountMinor, string Currency, long? Credits, string? PaymentIntentId);

    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task PurchaseReceiptAsync(string sessionId, CancellationToken ct)
    {
        var paid = await QueryAsync<PaidBundle>(BundleSql, new { sessionId }, ct);
        if (paid is null)
            return;
        await mailer.SendOnceAsync(sessionId, paid.UserId, async token => new PurchaseReceipt(
            PlanName(paid.PlanKey), BillingOverview.Money(paid.AmountMinor, paid.Currency), paid.Credits ?? 0,
            await ReadOrNullAsync(async () => paid.PaymentIntentId is { } intentId
                && (await stripe.GetPaymentIntentAsync(intentId, token)).LatestChargeId is { } chargeId
                    ? (await stripe.GetChargeAsync(chargeId, token)).ReceiptUrl
                    : null, "receipt", sessionId),
            links.Billing), ct);
    }

    private const string InvoiceSql = """
        SELECT p.user_id AS UserId, s.plan_key AS PlanKey, p.amount_minor AS AmountMinor, p.currency, s.status, s.current_period_end AS PeriodEnd
        FROM payments p JOIN subscriptions s ON s.stripe_subscription_id = p.subscription_id
        WHERE p.kind = 'subscription_invoice' AND p.stripe_id = @invoiceId AND p.status = 'paid' AND p.user_id IS NOT NULL;
        """;

    private sealed record PaidInvoice(string UserId, string PlanKey, long AmountMinor, string Currency, string Status, DateTime? PeriodEnd);

    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task SubscriptionStartedAsync(string subscriptionId, string invoiceId, CancellationToken ct)
    {
        var paid = await QueryAsync<PaidInvoice>(InvoiceSql, new { invoiceId }, ct);
        if (paid is null)
            return;
        // A duplicate the app canceled at once (two checkouts in parallel) never started: it has its own email.
        await mailer.SendOnceAsync(subscriptionId, paid.UserId, async token => paid.Status is "canceled" or "incomplete_expired"
            ? null
            : new SubscriptionStarted(PlanName(paid.PlanKey), BillingOverview.Money(paid.AmountMinor, paid.Currency), Day(paid.PeriodEnd),
                await InvoiceUrlAsync(invoiceId, token), links.Billing), ct);
    }

    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task SubscriptionRenewedAsync(string invoiceId, CancellationToken ct)
    {
        var paid = await QueryAsync<PaidInvoice>(InvoiceSql, new { invoiceId }, ct);
        if (paid is null)
            return;
        await mailer.SendOnceAsync(invoiceId, paid.UserId, async token =>
            new SubscriptionRenewed(PlanName(paid.PlanKey), BillingOverview.Money(paid.AmountMinor, paid.Currency), Day(paid.PeriodEnd),
                await InvoiceUrlAsync(invoiceId, token), links.Billing), ct);
    }

    private const string EndedSql = """
        SELECT s.user_id AS UserId, s.plan_key AS PlanKey,
               EXISTS (SELECT 1 FROM payments p WHERE p.kind = 'subscription_invoice' AND p.subscription_id = s.stripe_subscription_id
                                                  AND p.status = 'paid') AS Started
        FROM subscriptions s WHERE s.stripe_subscription_id = @subscriptionId AND s.status = 'canceled';
        """;

    private sealed record Ended(string UserId, string PlanKey, long Started);

    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task SubscriptionCanceledAsync(string subscriptionId, CancellationToken ct)
    {
        // Only a plan the customer had: one whose first invoice was never paid ended before it began.
        if (await QueryAsync<Ended>(EndedSql, new { subscriptionId }, ct) is not { Started: 1 } ended)
            return;
        await mailer.SendOnceAsync(subscriptionId, ended.UserId, _ => Task.FromResult<SubscriptionCanceled?>(
            new SubscriptionCanceled(PlanName(ended.PlanKey), links.Billing)), ct);
    }

    private async Task<T?> QueryAsync<T>(string sql, object args, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<T>(new CommandDefinition(sql, args, cancellationToken: ct));
    }

    private string PlanName(string? planKey) => (planKey is null ? null : plans.Find(planKey)?.Name) ?? planKey ?? "GenSaaS";

    private static string? Day(DateTime? utc) => utc is { } day ? day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) : null;

    private Task<string?> InvoiceUrlAsync(string invoiceId, CancellationToken ct) =>
        ReadOrNullAsync(async () => (await stripe.GetInvoiceAsync(invoiceId, ct)).HostedInvoiceUrl, "invoice", invoiceId);

    /// <summary>
    /// A link only Stripe knows (a receipt, a hosted invoice) is a courtesy: when Stripe cannot be reached the email goes
    /// without it rather than late; the billing page lists every payment anyway.
    /// </summary>
    private async Task<string?> ReadOrNullAsync(Func<Task<string?>> read, string what, string id)
    {
        try
        {
            return await read();
        }
        catch (Exception ex) when (ex is StripeException or HttpRequestException or TaskCanceledException)
        {
            logger.LogWarning(ex, "Could not read the {What} link of {StripeId} from Stripe; the email goes without it", what, id);
            return null;
        }
    }
}
