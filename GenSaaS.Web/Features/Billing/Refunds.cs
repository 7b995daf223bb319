using Dapper;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Operations;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// <c>GenSaaS.Web billing refund --charge ID [--amount N] [--request-id R]</c>: refunds through Stripe. The <c>charge.refunded</c> webhook
/// records the refund and takes back the unused share of a bundle's credits. The idempotency key is the charge, the amount and
/// the request id, so the same command run twice (a retry after a timeout, a double paste) refunds once; a deliberate second
/// refund of the same amount takes another request id.
/// </summary>
public sealed class RefundCommand(StripeGateway stripe, BillingModeInfo mode) : ICliCommand
{
    public string Name => "billing refund";

    public string Usage => "billing refund --charge ID [--amount MINOR_UNITS] [--request-id ID]    refund a charge, fully or in part (once per charge, amount and request id)";

    /// <summary>The request id when none is given: running the same refund again is then the same request.</summary>
    public const string DefaultRequestId = "1";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var chargeId = args.Required("charge");
        var amount = args.OptionalLong("amount");
        var requestId = args.Optional("request-id") is { Length: > 0 } given ? given.Trim() : DefaultRequestId;
        if (amount is <= 0)
            throw new CliUsageException("--amount must be positive (minor units, e.g. 200 for 2.00)");
        if (!mode.IsEnabled)
        {
            await output.WriteLineAsync("Billing is disabled: nothing to refund.");
            return 2;
        }
        try
        {
            var refund = await stripe.RefundAsync(chargeId, amount, requestId, ct);
            await output.WriteLineAsync($"Refund {refund.Id}: {refund.Amount} {refund.Currency} on {chargeId} is {refund.Status} (idempotency key {StripeGateway.RefundKey(chargeId, amount, requestId)}). Credits are taken back when Stripe's charge.refunded event arrives.");
            return 0;
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            await output.WriteLineAsync($"Stripe did not answer ({ex.Message}). Run the same command again: with the same charge, amount and request id it refunds at most once.");
            return 1;
        }
        catch (Stripe.StripeException ex)
        {
            await output.WriteLineAsync($"Stripe refused the refund: {ex.StripeError?.Message ?? ex.Message}");
            return 1;
        }
    }
}

/// <summary>What a refunded payment funded, as recorded: who paid, for what, and the credits a bundle granted.</summary>
public sealed record PaymentFunding(string? UserId, string Kind, string? PlanKey, long? Credits, long AmountMinor);

/// <summary>One refund as Stripe reports it, with the charge it refunds (its amount is what a refund's share is taken of).</summary>
public sealed record RefundFacts(string RefundId, string ChargeId, string? PaymentIntentId, long Amount, string Currency, string Status, long ChargeAmount,
    string? ReceiptUrl);

/// <summary>A refund as recorded: its <c>payments</c> row, the credits it took back (null when it funded none) and its ledger line.</summary>
public sealed record RecordedRefund(bool Applied, long PaymentRowId, int? Credits, long? LedgerEntryId, int Taken);

/// <summary>
/// The refund rules, in one place for every way a refund arrives (Stripe's <c>charge.refunded</c> webhook, an admin's refund):
/// each refund is recorded once, by its Stripe id, and a refund of a bundle takes back the refunded share of the bundle's
/// credits — cumulatively rounded down, so any order of partial refunds takes back the same total, and never more than is
/// unused (the ledger clamps at zero). Other payments (plan invoices, pay-per-use captures) take back nothing.
/// </summary>
public sealed class RefundRecorder(CreditLedger ledger, Payments payments, ILogger<RefundRecorder> logger)
{
    /// <summary>
    /// The credits to take back for a refund of <paramref name="refundAmount"/> when <paramref name="refundedBefore"/> of the
    /// <paramref name="chargeAmount"/> was already refunded: the bundle's credits in proportion to the money, each total
    /// rounded down, so two partial refunds take back what one refund of their sum would.
    /// </summary>
    public static int CreditsToTakeBack(long granted, long chargeAmount, long refundedBefore, long refundAmount)
    {
        if (granted <= 0 || chargeAmount <= 0)
            return 0;
        var before = Math.Min(chargeAmount, refundedBefore);
        var after = Math.Min(chargeAmount, refundedBefore + refundAmount);
        return (int)(granted * after / chargeAmount - granted * before / chargeAmount);
    }

    private const string FundingSql = """
        SELECT user_id AS UserId, kind, plan_key AS PlanKey, credits, amount_minor AS AmountMinor
        FROM payments
        WHERE payment_intent_id = @paymentIntentId AND kind IN ('bundle', 'capture')
        ORDER BY CASE kind WHEN 'bundle' THEN 0 ELSE 1 END
        LIMIT 1;
        """;

    /// <summary>What the payment intent paid for, as recorded (a bundle or a pay-per-use capture), or null.</summary>
    public static PaymentFunding? Funding(SqliteConnection connection, SqliteTransaction? tx, string paymentIntentId) =>
        connection.QuerySingleOrDefault<PaymentFunding>(FundingSql, new { paymentIntentId }, tx);

    private const string KnownSql = """
        SELECT id, credits, ledger_entry_id AS LedgerEntryId FROM payments WHERE kind = 'refund' AND stripe_id = @refundId;
        """;

    private const string RefundedBeforeSql = """
        SELECT coalesce(sum(amount_minor), 0) FROM payments WHERE kind = 'refund' AND charge_id = @chargeId;
        """;

    /// <summary>
    /// Records the refund inside the caller's write transaction (the caller may record its own action in the same one): the
    /// <c>payments</c> row and, for a bundle, the credits taken back. A refund already recorded changes nothing and answers
    /// what was recorded (<see cref="RecordedRefund.Applied"/> false). The caller logs after the commit (<see cref="Log"/>).
    /// </summary>
    public RecordedRefund Record(SqliteConnection connection, SqliteTransaction tx, RefundFacts refund, PaymentFunding? funding, string? userId)
    {
        if (connection.QuerySingleOrDefault<KnownRefund>(KnownSql, new { refundId = refund.RefundId }, tx) is { } known)
            return new RecordedRefund(false, known.Id, (int?)known.Credits, known.LedgerEntryId, 0);
        var before = connection.ExecuteScalar<long>(RefundedBeforeSql, new { chargeId = refund.ChargeId }, tx);
        int? credits = null;
        long? entryId = null;
        var taken = 0;
        if (funding is { Kind: "bundle", Credits: { } granted and > 0 } && userId is not null && refund.ChargeAmount > 0)
        {
            var share = CreditsToTakeBack(granted, refund.ChargeAmount, before, refund.Amount);
            credits = share;
            if (share > 0)
            {
                var line = ledger.TakeBack(connection, tx, userId, CreditBucket.Prepaid, share, $"Refund {refund.RefundId} of {funding.PlanKey}", refund.RefundId,
                    CreditLedger.SystemActor);
                entryId = line.EntryId;
                taken = -line.Amount;
            }
        }
        var rowId = payments.Record(connection, tx, Payment.Refund(userId, refund.RefundId, refund.PaymentIntentId, refund.ChargeId, funding?.PlanKey,
            refund.Amount, refund.Currency, refund.Status, credits, entryId) with { ReceiptUrl = refund.ReceiptUrl });
        return new RecordedRefund(true, rowId, credits, entryId, taken);
    }

    /// <summary>Logs a committed <see cref="Record"/> as every credit change is logged.</summary>
    public void Log(RefundFacts refund, RecordedRefund recorded, string? userId)
    {
        if (!recorded.Applied || recorded.Credits is not > 0 || userId is null)
            return;
        ledger.LogTakeBack(userId, CreditBucket.Prepaid, recorded.Taken, CreditLedger.SystemActor, $"Refund {refund.RefundId}", refund.RefundId);
        logger.LogInformation(BillingLogEvents.CreditsTakenBack, "Refund {RefundId} took back {Taken} of {Share} credits from {UserId}",
            refund.RefundId, recorded.Taken, recorded.Credits, userId);
    }

    private sealed record KnownRefund(long Id, long? Credits, long? LedgerEntryId);
}
