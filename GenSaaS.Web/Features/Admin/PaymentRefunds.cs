using System.Globalization;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Shared;
using Microsoft.Data.Sqlite;
using Stripe;

namespace GenSaaS.Web.Features.Admin;

public enum RefundStatus { Refunded, Replayed, NotFound, NotRefundable, TooLarge, Conflict, StripeRefused, StripeUnavailable }

/// <summary>
/// A refund made (or, <see cref="RefundStatus.Replayed"/>, the one an earlier request with the same key made): the refund at
/// Stripe, what the payment has had refunded in all, the credits the refund took back and the balances afterwards.
/// </summary>
public sealed record RefundResult(long PaymentId, string? UserId, string RefundId, long Amount, string Currency, string RefundState, long PaymentAmount,
    long RefundedTotal, int CreditsTakenBack, long Trial, long Prepaid, long? AuditId)
{
    public long Remaining => Math.Max(0, PaymentAmount - RefundedTotal);
}

public sealed record RefundOutcome(RefundStatus Status, string? Message = null, RefundResult? Result = null);

/// <summary>One of a customer's payments as the admin customer page lists it, with what has been refunded of it.</summary>
public sealed record RefundablePayment
{
    // Properties, not a positional record: the refunded sum is an expression, whose column type SQLite reports as BLOB when
    // there is no row to look at, which Dapper's constructor matching refuses.
    public long Id { get; init; }
    public string? UserId { get; init; }
    public string Kind { get; init; } = "";
    public string StripeId { get; init; } = "";
    public string? PaymentIntentId { get; init; }
    public string? PlanKey { get; init; }
    public long AmountMinor { get; init; }
    public string Currency { get; init; } = "usd";
    public string Status { get; init; } = "";
    public long? Credits { get; init; }
    public DateTime CreatedAt { get; init; }
    public long RefundedMinor { get; init; }

    public string PublicId => PaymentRefunds.PaymentId(Id);

    public long RemainingMinor => Math.Max(0, AmountMinor - RefundedMinor);

    /// <summary>Money that was taken and can be given back: a paid bundle, a plan invoice, a pay-per-use capture.</summary>
    public bool IsRefundable => Kind switch
    {
        "bundle" => Status == "paid" && PaymentIntentId is not null,
        "subscription_invoice" or "capture" => true,
        _ => false,
    };
}

/// <summary>
/// An admin refunds a payment, fully or in part, with a reason: through the Stripe gateway with an idempotency key named
/// for the admin's one intent (a form's token, an API <c>Idempotency-Key</c>), then — in one write transaction — the refund
/// recorded by the refund rules (<see cref="RefundRecorder"/>: a bundle's refunded share of credits taken back), the audit entry
/// <c>payment.refund</c> and the intent (<c>admin_refunds</c>). A repeated intent answers the first refund; the
/// <c>charge.refunded</c> webhook that follows finds the refund recorded and changes nothing again. Nothing is written when
/// Stripe refuses or does not answer.
/// </summary>
public sealed class PaymentRefunds(Db db, StripeGateway stripe, RefundRecorder recorder, AuditLog audit, TimeProvider clock, ILogger<PaymentRefunds> logger)
{
    public const string IdPrefix = Dashboard.PaymentHistory.IdPrefix;

    public const int MaxReasonLength = 500;

    /// <summary>The most payments the customer page lists.</summary>
    public const int ListedPayments = 20;

    public static string PaymentId(long id) => IdPrefix + id.ToString(CultureInfo.InvariantCulture);

    /// <summary>The row id of <c>pay_N</c>, or null for anything else.</summary>
    public static long? ParsePaymentId(string? id) =>
        id is not null && id.StartsWith(IdPrefix, StringComparison.Ordinal)
        && long.TryParse(id.AsSpan(IdPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : null;

    /// <summary>The Stripe idempotency key of an admin's refund: one per intent, whatever is sent again.</summary>
    public static string StripeKey(string reference) => $"admin-refund:{reference}";

    private const string PaymentColumns = """
        SELECT p.id, p.user_id AS UserId, p.kind, p.stripe_id AS StripeId, p.payment_intent_id AS PaymentIntentId, p.plan_key AS PlanKey,
               p.amount_minor AS AmountMinor, p.currency, p.status, p.credits, p.created_at AS CreatedAt,
               (SELECT coalesce(sum(r.amount_minor), 0) FROM payments AS r
                WHERE r.kind = 'refund' AND r.status IN ('succeeded', 'pending') AND r.payment_intent_id = p.payment_intent_id) AS RefundedMinor
        FROM payments AS p
        """;

    private const string PaymentSql = PaymentColumns + """

        WHERE p.id = @id AND p.kind <> 'refund';
        """;

    private static RefundablePayment? Read(SqliteConnection connection, SqliteTransaction? tx, long id) =>
        connection.QuerySingleOrDefault<RefundablePayment>(PaymentSql, new { id }, tx);

    private const string ListSql = PaymentColumns + """

        WHERE p.user_id = @userId AND p.kind IN ('bundle', 'subscription_invoice', 'capture')
        ORDER BY p.created_at DESC, p.id DESC
        LIMIT @take;
        """;

    /// <summary>The customer's newest payments that took money, each with what has been refunded of it.</summary>
    public Task<List<RefundablePayment>> ListAsync(string userId, CancellationToken ct) =>
        db.ReadAsync(c => c.Query<RefundablePayment>(ListSql, new { userId, take = ListedPayments }).AsList(), ct);

    public Task<RefundablePayment?> FindAsync(long id, CancellationToken ct) => db.ReadAsync(c => Read(c, null, id), ct);

    private const string RequestSql = """
        SELECT a.payment_id AS PaymentId, a.amount_requested AS AmountRequested, a.audit_id AS AuditId,
               r.stripe_id AS RefundId, r.amount_minor AS Amount, r.currency, r.status, r.credits
        FROM admin_refunds AS a
        JOIN payments AS r ON r.kind = 'refund' AND r.stripe_id = a.stripe_refund_id
        WHERE a.reference = @reference;
        """;

    private static EarlierRequest? FindRequest(SqliteConnection connection, SqliteTransaction? tx, string reference) =>
        connection.QuerySingleOrDefault<EarlierRequest>(RequestSql, new { reference }, tx);

    /// <summary>True when a refund was already made for this intent.</summary>
    public Task<bool> WasMadeAsync(string reference, CancellationToken ct) => db.ReadAsync(c => FindRequest(c, null, reference) is not null, ct);

    private const string InsertRequestSql = """
        INSERT INTO admin_refunds (reference, payment_id, amount_requested, stripe_refund_id, audit_id, created_at)
        VALUES (@reference, @paymentId, @amountRequested, @refundId, @auditId, @now);
        """;

    /// <summary>
    /// Refunds <paramref name="amount"/> (minor units; null: all that remains) of payment <paramref name="paymentId"/>.
    /// <paramref name="reference"/> names the intent: the same reference again answers the first refund (replayed), with
    /// another payment or amount it is a conflict. An amount larger than what remains is refused before Stripe is called, and
    /// when Stripe itself refuses it (a refund made elsewhere and not yet seen here) with Stripe's message.
    /// </summary>
    public async Task<RefundOutcome> RefundAsync(AuditActor actor, long paymentId, long? amount, string reason, string reference, CancellationToken ct = default)
    {
        if (amount is <= 0)
            throw new ArgumentOutOfRangeException(nameof(amount), "A refund gives back at least one minor unit");
        reason = reason.Trim();
        if (reason.Length is 0 or > MaxReasonLength)
            throw new ArgumentException($"A reason of 1 to {MaxReasonLength} characters is required", nameof(reason));
        ArgumentException.ThrowIfNullOrWhiteSpace(reference);

        if (await db.ReadAsync(c => FindRequest(c, null, reference), ct) is { } earlier)
            return await AnswerEarlierAsync(earlier, paymentId, amount, ct);

        var payment = await FindAsync(paymentId, ct);
        if (payment is null)
            return new RefundOutcome(RefundStatus.NotFound, $"No payment has the id '{PaymentId(paymentId)}'.");
        if (!payment.IsRefundable)
            return new RefundOutcome(RefundStatus.NotRefundable,
                $"{PaymentId(paymentId)} is a {payment.Kind.Replace('_', ' ')} ({payment.Status}): only a paid bundle, a plan invoice or a pay-per-use charge can be refunded.");
        if (payment.RemainingMinor == 0)
            return new RefundOutcome(RefundStatus.TooLarge,
                $"{PaymentId(paymentId)} has already been refunded in full ({Money.Format(payment.RefundedMinor, payment.Currency)}); nothing was refunded.");
        if (amount > payment.RemainingMinor)
            return new RefundOutcome(RefundStatus.TooLarge,
                $"Refund amount ({Money.Format(amount.Value, payment.Currency)}) is greater than what remains of {PaymentId(paymentId)} " +
                $"({Money.Format(payment.RemainingMinor, payment.Currency)} of {Money.Format(payment.AmountMinor, payment.Currency)}); nothing was refunded.");

        Refund refund;
        string paymentIntentId;
        try
        {
            paymentIntentId = payment.PaymentIntentId ?? await InvoicePaymentIntentAsync(payment.StripeId, ct)
                ?? throw new InvalidOperationException($"Stripe names no paid payment of invoice {payment.StripeId}.");
            refund = await stripe.RefundPaymentIntentAsync(paymentIntentId, amount, StripeKey(reference), ct, StripeMetadata(actor, paymentId, reason));
        }
        catch (Exception ex) when (StripeGateway.IsUnavailable(ex, ct))
        {
            logger.LogWarning(BillingLogEvents.StripeUnavailable, ex, "Refund of {PaymentId} by {Actor} not made: Stripe did not answer", PaymentId(paymentId), actor.Id);
            return new RefundOutcome(RefundStatus.StripeUnavailable,
                "Stripe did not answer, so nothing was recorded here. Send the same request again (the same form or Idempotency-Key): it refunds at most once.");
        }
        catch (StripeException ex) when (ex.StripeError?.Code is "amount_too_large" or "charge_already_refunded")
        {
            return new RefundOutcome(RefundStatus.TooLarge, $"Stripe refused the refund: {ex.StripeError.Message} Nothing was refunded.");
        }
        catch (StripeException ex) when (ex.StripeError?.Type == "idempotency_error")
        {
            return new RefundOutcome(RefundStatus.Conflict, "This request's key was already used for a different refund; nothing was refunded.");
        }
        catch (StripeException ex)
        {
            return new RefundOutcome(RefundStatus.StripeRefused, $"Stripe refused the refund: {ex.StripeError?.Message ?? ex.Message} Nothing was refunded.");
        }
        catch (InvalidOperationException ex)
        {
            return new RefundOutcome(RefundStatus.StripeRefused, $"{ex.Message} Nothing was refunded.");
        }

        var facts = new RefundFacts(refund.Id, refund.ChargeId, paymentIntentId, refund.Amount, refund.Currency ?? payment.Currency, refund.Status,
            refund.Charge?.Amount ?? payment.AmountMinor, refund.Charge?.ReceiptUrl);
        var written = await db.WriteAsync((connection, tx) =>
        {
            if (FindRequest(connection, tx, reference) is { } raced)
                return (Earlier: raced, Recorded: (RecordedRefund?)null, Result: (RefundResult?)null);
            var before = State(connection, tx, payment);
            var funding = RefundRecorder.Funding(connection, tx, paymentIntentId);
            var recorded = recorder.Record(connection, tx, facts, funding, payment.UserId);
            if (payment.PaymentIntentId is null)
                Payments.LinkPaymentIntent(connection, tx, payment.Id, paymentIntentId);
            var after = State(connection, tx, payment with { PaymentIntentId = paymentIntentId });
            var auditId = audit.Append(connection, tx, actor, AuditActions.PaymentRefund, PaymentId(payment.Id), reason,
                new { before.Trial, before.Prepaid, before.Refunded, Remaining = payment.AmountMinor - before.Refunded, payment.AmountMinor, payment.Currency, Customer = payment.UserId },
                new
                {
                    after.Trial, after.Prepaid, after.Refunded, Remaining = Math.Max(0, payment.AmountMinor - after.Refunded),
                    RefundId = refund.Id, Amount = refund.Amount, Requested = amount, CreditsTakenBack = recorded.Credits ?? 0,
                });
            connection.Execute(InsertRequestSql, new { reference, paymentId = payment.Id, amountRequested = amount, refundId = refund.Id, auditId, now = clock.GetUtcNow().UtcDateTime }, tx);
            return (Earlier: (EarlierRequest?)null, Recorded: (RecordedRefund?)recorded,
                Result: (RefundResult?)new RefundResult(payment.Id, payment.UserId, refund.Id, refund.Amount, facts.Currency, refund.Status, payment.AmountMinor,
                    after.Refunded, recorded.Credits ?? 0, after.Trial, after.Prepaid, auditId));
        }, ct);
        if (written.Earlier is { } first)
            return await AnswerEarlierAsync(first, paymentId, amount, ct);
        recorder.Log(facts, written.Recorded!, payment.UserId);
        logger.LogInformation(BillingLogEvents.RefundCreated, "Admin {Actor} refunded {Amount} {Currency} of {PaymentId} ({RefundId})",
            actor.Id, refund.Amount, facts.Currency, PaymentId(payment.Id), refund.Id);
        return new RefundOutcome(RefundStatus.Refunded, Result: written.Result);
    }

    /// <summary>
    /// What the refund carries at Stripe, so the Dashboard and Stripe's exports say who refunded and why: <c>reason</c> (the
    /// admin's words, at most 500 characters as Stripe's metadata values), <c>admin</c> (the actor's id, a user id or
    /// <c>cli:…</c>), <c>admin_via</c> (<c>admin</c>, <c>api_key</c> or <c>cli</c>) and <c>payment</c> (<c>pay_…</c>).
    /// </summary>
    public static Dictionary<string, string> StripeMetadata(AuditActor actor, long paymentId, string reason) => new()
    {
        ["reason"] = reason,
        ["admin"] = actor.Id,
        ["admin_via"] = actor.Kind,
        ["payment"] = PaymentId(paymentId),
    };

    /// <summary>The first request with this reference: the same refund again (replayed), or a different one (conflict).</summary>
    private async Task<RefundOutcome> AnswerEarlierAsync(EarlierRequest earlier, long paymentId, long? amount, CancellationToken ct)
    {
        if (earlier.PaymentId != paymentId || earlier.AmountRequested != amount)
            return new RefundOutcome(RefundStatus.Conflict, "This request's key was already used for a different refund; nothing was refunded.");
        var payment = (await FindAsync(paymentId, ct))!;
        var now = await db.ReadAsync(c => State(c, null, payment), ct);
        return new RefundOutcome(RefundStatus.Replayed, "This refund was already made; nothing was refunded again.",
            new RefundResult(paymentId, payment.UserId, earlier.RefundId, earlier.Amount, earlier.Currency, earlier.Status, payment.AmountMinor,
                now.Refunded, (int)(earlier.Credits ?? 0), now.Trial, now.Prepaid, null));
    }

    private async Task<string?> InvoicePaymentIntentAsync(string invoiceId, CancellationToken ct) =>
        (await stripe.ListInvoicePaymentsAsync(invoiceId, ct)).Data.FirstOrDefault(p => p.Status == "paid")?.Payment?.PaymentIntentId;

    private const string RefundedSql = """
        SELECT coalesce(sum(amount_minor), 0) FROM payments
        WHERE kind = 'refund' AND status IN ('succeeded', 'pending') AND payment_intent_id = @paymentIntentId;
        """;

    private static PaymentState State(SqliteConnection connection, SqliteTransaction? tx, RefundablePayment payment)
    {
        var balance = payment.UserId is null ? null : CreditLedger.ReadBalance(connection, tx, payment.UserId);
        var refunded = payment.PaymentIntentId is null ? 0 : connection.ExecuteScalar<long>(RefundedSql, new { paymentIntentId = payment.PaymentIntentId }, tx);
        return new PaymentState(balance?.Trial ?? 0, balance?.Prepaid ?? 0, refunded);
    }

    private sealed record PaymentState(long Trial, long Prepaid, long Refunded);

    private sealed record EarlierRequest(long PaymentId, long? AmountRequested, long AuditId, string RefundId, long Amount, string Currency, string Status, long? Credits);
}
