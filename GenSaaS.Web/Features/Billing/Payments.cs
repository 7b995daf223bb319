using Dapper;
using GenSaaS.Web.Features.Plans;
using GenSaaS.Web.Data;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// One row of <c>payments</c>: something Stripe did with money for us, keyed by its kind and Stripe id. Made only through
/// the factory of its kind, each of which states what that kind carries, and refuses what no Stripe object could be.
/// </summary>
public sealed record Payment
{
    public string? UserId { get; }
    public string Kind { get; }
    public string StripeId { get; }
    public string? PaymentIntentId { get; }
    public string? ChargeId { get; }
    public string? PlanKey { get; }
    public long AmountMinor { get; }
    public string Currency { get; }
    public string Status { get; }
    public int? Credits { get; }
    public long? LedgerEntryId { get; }
    public string? UsageId { get; }
    public string? SubscriptionId { get; }

    /// <summary>The charge's receipt at Stripe (<c>charge.receipt_url</c>), when the Stripe object at hand carried it.</summary>
    public string? ReceiptUrl { get; init; }

    /// <summary>An invoice's page at Stripe (<c>invoice.hosted_invoice_url</c>).</summary>
    public string? HostedInvoiceUrl { get; init; }

    /// <summary>An invoice's PDF at Stripe (<c>invoice.invoice_pdf</c>).</summary>
    public string? InvoicePdf { get; init; }

    private Payment(string? userId, string kind, string stripeId, string? paymentIntentId, string? chargeId, string? planKey, long amountMinor,
        string currency, string status, int? credits = null, long? ledgerEntryId = null, string? usageId = null, string? subscriptionId = null)
    {
        if (string.IsNullOrWhiteSpace(stripeId))
            throw new ArgumentException($"A {kind} payment needs the Stripe id it is recorded under.", nameof(stripeId));
        ArgumentOutOfRangeException.ThrowIfNegative(amountMinor);
        if (currency is not { Length: 3 } || !currency.All(char.IsAsciiLetter))
            throw new ArgumentException($"'{currency}' is not a three-letter currency code (payment {stripeId}).", nameof(currency));
        if (string.IsNullOrWhiteSpace(status))
            throw new ArgumentException($"Payment {stripeId} needs a status.", nameof(status));
        UserId = userId;
        Kind = kind;
        StripeId = stripeId;
        PaymentIntentId = paymentIntentId;
        ChargeId = chargeId;
        PlanKey = planKey;
        AmountMinor = amountMinor;
        Currency = currency;
        Status = status;
        Credits = credits;
        LedgerEntryId = ledgerEntryId;
        UsageId = usageId;
        SubscriptionId = subscriptionId;
    }

    /// <summary>A bundle's Checkout Session that was paid: the credits it granted and the ledger line that granted them.</summary>
    public static Payment PaidBundle(string userId, string checkoutSessionId, string? paymentIntentId, string planKey, long amountMinor, string currency,
        int credits, long? ledgerEntryId) =>
        new(userId, "bundle", checkoutSessionId, paymentIntentId, null, planKey, amountMinor, currency, "paid", credits, ledgerEntryId);

    /// <summary>A bundle's Checkout Session that is not paid (yet): <c>unpaid</c>, <c>failed</c>, or Stripe's payment status.</summary>
    public static Payment UnpaidBundle(string userId, string checkoutSessionId, string? paymentIntentId, string planKey, long amountMinor, string currency,
        string status) =>
        new(userId, "bundle", checkoutSessionId, paymentIntentId, null, planKey, amountMinor, currency, status);

    /// <summary>
    /// An auto top-up: a bundle bought off session on the saved card, recorded as a bundle under its PaymentIntent (so a refund
    /// finds it and takes its credits back), <c>paid</c> with the credits and ledger line, or <c>failed</c>.
    /// </summary>
    public static Payment AutoTopUp(string userId, string paymentIntentId, string? chargeId, string planKey, long amountMinor, string currency, string status,
        int? credits, long? ledgerEntryId) =>
        new(userId, "bundle", paymentIntentId, paymentIntentId, chargeId, planKey, amountMinor, currency, status, credits, ledgerEntryId);

    /// <summary>A paid invoice of the subscription.</summary>
    public static Payment SubscriptionInvoice(string userId, string invoiceId, string subscriptionId, long amountPaidMinor, string currency) =>
        new(userId, "subscription_invoice", invoiceId, null, null, PlanCatalog.SubscriptionUnlimited, amountPaidMinor, currency, "paid",
            subscriptionId: subscriptionId);

    /// <summary>The hold placed on the saved card before a pay-per-use generation.</summary>
    public static Payment Authorisation(string userId, string paymentIntentId, string? chargeId, long amountMinor, string currency, string usageId) =>
        new(userId, "authorisation", paymentIntentId, paymentIntentId, chargeId, PlanCatalog.PayPerUse, amountMinor, currency, "authorised",
            usageId: usageId);

    /// <summary>The captured pay-per-use charge, by our capture job or seen on <c>payment_intent.succeeded</c>.</summary>
    public static Payment Capture(string? userId, string paymentIntentId, string? chargeId, long amountReceivedMinor, string currency, string usageId) =>
        new(userId, "capture", paymentIntentId, paymentIntentId, chargeId, PlanCatalog.PayPerUse, amountReceivedMinor, currency, "succeeded",
            usageId: usageId);

    /// <summary>One refund of a charge, with the credits it took back from a bundle (null when it funded none).</summary>
    public static Payment Refund(string? userId, string refundId, string? paymentIntentId, string chargeId, string? planKey, long amountMinor,
        string currency, string status, int? creditsTakenBack, long? ledgerEntryId) =>
        new(userId, "refund", refundId, paymentIntentId, chargeId, planKey, amountMinor, currency, status, creditsTakenBack, ledgerEntryId);
}

/// <summary>Records payments: every row of <c>payments</c> is written here.</summary>
public sealed class Payments(Db db, TimeProvider clock)
{
    private const string RecordSql = """
        INSERT INTO payments (user_id, kind, stripe_id, payment_intent_id, charge_id, plan_key, amount_minor, currency, status,
                              credits, ledger_entry_id, usage_id, subscription_id, receipt_url, hosted_invoice_url, invoice_pdf, created_at, updated_at)
        VALUES (@UserId, @Kind, @StripeId, @PaymentIntentId, @ChargeId, @PlanKey, @AmountMinor, @Currency, @Status,
                @Credits, @LedgerEntryId, @UsageId, @SubscriptionId, @ReceiptUrl, @HostedInvoiceUrl, @InvoicePdf, @Now, @Now)
        ON CONFLICT (kind, stripe_id) DO UPDATE SET
            status = CASE WHEN payments.status IN ('paid', 'succeeded', 'captured') THEN payments.status
                          -- A bundle whose delayed payment failed stays failed when a late checkout.session.completed says unpaid.
                          WHEN payments.kind = 'bundle' AND payments.status = 'failed' AND excluded.status = 'unpaid' THEN payments.status
                          ELSE excluded.status END,
            payment_intent_id = coalesce(payments.payment_intent_id, excluded.payment_intent_id),
            charge_id = coalesce(payments.charge_id, excluded.charge_id),
            credits = coalesce(payments.credits, excluded.credits),
            ledger_entry_id = coalesce(payments.ledger_entry_id, excluded.ledger_entry_id),
            receipt_url = coalesce(excluded.receipt_url, payments.receipt_url),
            hosted_invoice_url = coalesce(excluded.hosted_invoice_url, payments.hosted_invoice_url),
            invoice_pdf = coalesce(excluded.invoice_pdf, payments.invoice_pdf),
            updated_at = excluded.updated_at;
        """;

    /// <summary>One row per Stripe payment object; recording it again only fills what is missing, and a paid row stays paid.</summary>
    public async Task RecordAsync(Payment payment, CancellationToken ct)
    {
        await db.ExecuteAsync(RecordSql, Args(payment), ct);
    }

    private const string RowIdSql = """
        SELECT id FROM payments WHERE kind = @Kind AND stripe_id = @StripeId;
        """;

    /// <summary><see cref="RecordAsync"/> inside the caller's write transaction; returns the row's id.</summary>
    public long Record(SqliteConnection connection, SqliteTransaction tx, Payment payment)
    {
        connection.Execute(RecordSql, Args(payment), tx);
        return connection.ExecuteScalar<long>(RowIdSql, new { payment.Kind, payment.StripeId }, tx);
    }

    private const string LinkPaymentIntentSql = """
        UPDATE payments SET payment_intent_id = @paymentIntentId WHERE id = @id AND payment_intent_id IS NULL;
        """;

    /// <summary>Names the PaymentIntent of a row recorded without it (a plan invoice, whose intent is found when it is refunded).</summary>
    public static void LinkPaymentIntent(SqliteConnection connection, SqliteTransaction tx, long id, string paymentIntentId) =>
        connection.Execute(LinkPaymentIntentSql, new { id, paymentIntentId }, tx);

    private object Args(Payment payment) => new
    {
        payment.UserId, payment.Kind, payment.StripeId, payment.PaymentIntentId, payment.ChargeId, payment.PlanKey, payment.AmountMinor,
        payment.Currency, payment.Status, payment.Credits, payment.LedgerEntryId, payment.UsageId, payment.SubscriptionId,
        payment.ReceiptUrl, payment.HostedInvoiceUrl, payment.InvoicePdf,
        Now = clock.GetUtcNow().UtcDateTime,
    };

    private const string ReceiptSql = """
        UPDATE payments SET receipt_url = @receiptUrl, updated_at = @now
        WHERE (charge_id = @chargeId OR (@paymentIntentId IS NOT NULL AND payment_intent_id = @paymentIntentId))
          AND kind IN ('bundle', 'authorisation', 'capture', 'refund')
          AND receipt_url IS NOT @receiptUrl;
        """;

    /// <summary>
    /// Stores the charge's receipt link on every row of that charge (its purchase or hold and capture, its refunds): Stripe keeps
    /// one receipt per charge, updated with later refunds. Rows recorded before the link was seen get it from any later event.
    /// </summary>
    public async Task RecordReceiptAsync(string chargeId, string? paymentIntentId, string? receiptUrl, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(receiptUrl))
            return;
        await db.ExecuteAsync(ReceiptSql, new { chargeId, paymentIntentId, receiptUrl, now = clock.GetUtcNow().UtcDateTime }, ct);
    }
}
