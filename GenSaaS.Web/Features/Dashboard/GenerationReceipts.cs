using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary>The usage row that paid for a generation: how it was funded, what it cost, and its pay-per-use hold when there is one.</summary>
public sealed record ReceiptUsage(string Id, string State, string FundingSource, long Units, long? AmountMinor, string? SubscriptionId,
    DateTime CreatedAt, string? ChargeState, string? PaymentIntentId, long? ChargeAmountMinor, string? ChargeCurrency);

public sealed record ReceiptGeneration(string Id, string Prompt, long Width, long Height, DateTime CreatedAt);

/// <summary>A ledger line of the usage (its debit, and its release when the credit came back).</summary>
public sealed record ReceiptLedgerLine(long Id, string Kind, string Bucket, long Amount, long BalanceAfter, string Reason, DateTime CreatedAt)
{
    public string PublicId => CreditHistory.IdPrefix + Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Everything one generation's receipt shows: output → usage → ledger lines → the Stripe payments and refunds behind them.</summary>
public sealed record GenerationReceipt(string GenerationId, string Prompt, long Width, long Height, DateTime CreatedAt, ReceiptUsage? Usage,
    IReadOnlyList<ReceiptLedgerLine> Ledger, IReadOnlyList<PaymentLine> Payments, PaymentLine? FundingPurchase);

/// <summary>
/// Reads a generation's receipt for its owner only. Each step is a key lookup: the generation by id, its usage by
/// <c>ix_usage_generation</c>, the ledger lines by <c>(kind, reference)</c>, a pay-per-use charge's payments by payment intent,
/// and for credits or a plan the purchase or invoice that came last before it (<c>ix_payments_user</c>, read backwards).
/// </summary>
public sealed class GenerationReceipts(Db db)
{
    private const string GenerationSql = """
        SELECT id, prompt, width, height, created_at AS CreatedAt FROM generations WHERE id = @id AND user_id = @userId;
        """;

    private const string UsageSql = """
        SELECT u.id, u.state, u.funding_source AS FundingSource, u.units, u.amount_minor AS AmountMinor, u.subscription_id AS SubscriptionId,
               u.created_at AS CreatedAt, c.state AS ChargeState, c.payment_intent_id AS PaymentIntentId, c.amount_minor AS ChargeAmountMinor,
               c.currency AS ChargeCurrency
        FROM usage AS u
        LEFT JOIN usage_charges AS c ON c.usage_id = u.id
        WHERE u.generation_id = @id AND u.user_id = @userId;
        """;

    private const string LedgerSql = """
        SELECT id, kind, bucket, amount, balance_after AS BalanceAfter, reason, created_at AS CreatedAt
        FROM credit_ledger
        WHERE kind IN ('debit', 'release') AND reference = @usageId AND user_id = @userId
        ORDER BY id;
        """;

    private const string PaymentColumns = """
        SELECT id, kind, amount_minor AS AmountMinor, currency, status, plan_key AS PlanKey, credits, stripe_id AS StripeId, usage_id AS UsageId,
               receipt_url AS ReceiptUrl, hosted_invoice_url AS HostedInvoiceUrl, invoice_pdf AS InvoicePdf, created_at AS CreatedAt
        FROM payments
        """;

    // The hold, its capture and any refund of the charge all carry the payment intent's id.
    private const string ChargePaymentsSql = PaymentColumns + """

        WHERE payment_intent_id = @paymentIntentId AND user_id = @userId
        ORDER BY created_at, id;
        """;

    // Credits are interchangeable, so a credit-paid image names the purchase (bundle) or, on a plan, the invoice that came
    // last before it: what the customer last paid for that kind of use.
    private const string FundingSql = PaymentColumns + """

        WHERE user_id = @userId AND created_at <= @before AND kind = @kind AND status = 'paid'
        ORDER BY created_at DESC, id DESC
        LIMIT 1;
        """;

    private const string RefundsSql = PaymentColumns + """

        WHERE payment_intent_id = @paymentIntentId AND kind = 'refund' AND user_id = @userId
        ORDER BY created_at, id;
        """;

    private const string BundleIntentSql = """
        SELECT payment_intent_id FROM payments WHERE id = @id;
        """;

    /// <summary>The receipt of the customer's generation, or null when it is not theirs (or does not exist).</summary>
    public Task<GenerationReceipt?> GetAsync(string userId, string generationId, CancellationToken ct = default) =>
        db.ReadAsync(c =>
        {
            if (c.QuerySingleOrDefault<ReceiptGeneration>(GenerationSql, new { id = generationId, userId }) is not { } generation)
                return null;
            var usage = c.QuerySingleOrDefault<ReceiptUsage>(UsageSql, new { id = generationId, userId });
            IReadOnlyList<ReceiptLedgerLine> ledger = usage is null ? [] : c.Query<ReceiptLedgerLine>(LedgerSql, new { usageId = usage.Id, userId }).AsList();
            var payments = new List<PaymentLine>();
            PaymentLine? funding = null;
            if (usage?.PaymentIntentId is { } paymentIntentId)
                payments.AddRange(c.Query<PaymentLine>(ChargePaymentsSql, new { paymentIntentId, userId }));
            else if (usage is { FundingSource: "prepaid" or "subscription" })
            {
                var kind = usage.FundingSource == "prepaid" ? "bundle" : "subscription_invoice";
                funding = c.QuerySingleOrDefault<PaymentLine>(FundingSql, new { userId, before = Db.FormatTime(usage.CreatedAt), kind });
                if (funding is not null && c.ExecuteScalar<string?>(BundleIntentSql, new { id = funding.Id }) is { } bundleIntent)
                    payments.AddRange(c.Query<PaymentLine>(RefundsSql, new { paymentIntentId = bundleIntent, userId }));
            }
            return new GenerationReceipt(generation.Id, generation.Prompt, generation.Width, generation.Height, generation.CreatedAt, usage, ledger, payments, funding);
        }, ct);
}
