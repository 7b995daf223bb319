using GenSaaS.Web.Features.Plans;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing.Webhooks;
using Hangfire;
using Stripe;

namespace GenSaaS.Web.Features.Billing;

/// <summary>How a pay-per-use authorisation went: the hold is in place, or Stripe's message for the customer.</summary>
public sealed record AuthorizationResult(bool Authorized, string? PaymentIntentId, string? Message)
{
    public static AuthorizationResult Declined(string message, string? paymentIntentId = null) => new(false, paymentIntentId, message);

    /// <summary>
    /// What the customer reads when their bank wants 3-D Secure for a payment made while they are not there: the card must be
    /// confirmed with them present, which the billing portal does.
    /// </summary>
    public const string AuthenticationRequiredMessage =
        "Your bank asks you to confirm your card before it can be charged. Update your card in the billing portal (your bank will ask you to confirm it there), then try again. You were not charged.";
}

/// <summary>
/// Pay per use: a manual-capture PaymentIntent confirmed off session on the saved card before the generation, captured
/// after it succeeds, cancelled after it fails. Each Stripe call carries a key derived from the usage id, so a retry is the same request.
/// </summary>
public sealed class PayPerUse(
    Db db,
    StripeGateway stripe,
    BillingAccounts accounts,
    Payments payments,
    PlanCatalog plans,
    IBackgroundJobClient jobs,
    TimeProvider clock,
    ILogger<PayPerUse> logger)
{
    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    /// <summary>The price of a pay-per-use generation of <paramref name="units"/> units: units times the plan's unit price.</summary>
    public (long AmountMinor, string Currency) PriceOf(long units)
    {
        var plan = plans.Get(PlanCatalog.PayPerUse);
        return (units * plan.PriceMinor, plan.Currency);
    }

    private const string InsertPendingSql = """
        INSERT INTO usage_charges (usage_id, user_id, state, amount_minor, currency, created_at, updated_at)
        VALUES (@usageId, @userId, 'pending', @amountMinor, @currency, @now, @now)
        ON CONFLICT (usage_id) DO NOTHING;
        """;

    private const string MarkAuthorizedSql = """
        UPDATE usage_charges SET payment_intent_id = @paymentIntentId, state = 'authorised', updated_at = @now
        WHERE usage_id = @usageId AND state = 'pending';
        """;

    private const string MarkFailedSql = """
        UPDATE usage_charges SET payment_intent_id = coalesce(@paymentIntentId, payment_intent_id), state = 'failed', error = @message, updated_at = @now
        WHERE usage_id = @usageId AND state IN ('pending', 'authorised');
        """;

    /// <summary>
    /// Places the hold for a pay-per-use reservation of <paramref name="units"/> units, recording the charge (<c>usage_charges</c>)
    /// before Stripe is asked, so a crash in between is found by the sweep. A decline leaves the charge <c>failed</c>; the
    /// caller releases the usage.
    /// </summary>
    public async Task<AuthorizationResult> AuthorizeAsync(string usageId, string userId, long units, CancellationToken ct)
    {
        var (amountMinor, currency) = PriceOf(units);
        await db.ExecuteAsync(InsertPendingSql, new { usageId, userId, amountMinor, currency, now = Now }, ct);
        var customer = await accounts.FindAsync(userId, ct);
        if (customer?.DefaultPaymentMethod is not { } paymentMethodId)
            return await FailAsync(usageId, "There is no saved card to charge. Add one on the billing page.", null, ct);

        PaymentIntent intent;
        try
        {
            intent = await stripe.AuthorizeAsync(usageId, customer.StripeCustomerId, paymentMethodId, amountMinor, currency, userId, ct);
        }
        catch (StripeException ex)
        {
            var authentication = ex.StripeError?.Code == "authentication_required" || ex.StripeError?.DeclineCode == "authentication_required";
            var message = authentication ? AuthorizationResult.AuthenticationRequiredMessage : ex.StripeError?.Message ?? ex.Message;
            logger.LogInformation(BillingLogEvents.PaymentDeclined, "Authorisation for usage {UsageId} declined: {DeclineCode} {Message}",
                usageId, ex.StripeError?.DeclineCode ?? ex.StripeError?.Code, ex.StripeError?.Message ?? ex.Message);
            // Stripe keeps the declined PaymentIntent open (requires_payment_method); cancel it so nothing can complete it later.
            if (ex.StripeError?.PaymentIntent is { } declined)
                await CancelLeftOverAsync(usageId, declined, ct);
            return await FailAsync(usageId, message, ex.StripeError?.PaymentIntent?.Id, ct);
        }

        if (intent.Status != "requires_capture")
        {
            // requires_action: the bank wants 3-D Secure and the customer is not here to pass it.
            await CancelLeftOverAsync(usageId, intent, ct);
            var message = intent.Status == "requires_action" || intent.LastPaymentError?.Code == "authentication_required"
                ? AuthorizationResult.AuthenticationRequiredMessage
                : intent.LastPaymentError?.Message ?? "Your card was declined.";
            logger.LogInformation(BillingLogEvents.PaymentDeclined, "Authorisation for usage {UsageId} not placed: {PaymentIntentId} is {Status}", usageId, intent.Id, intent.Status);
            return await FailAsync(usageId, message, intent.Id, ct);
        }

        await db.ExecuteAsync(MarkAuthorizedSql, new { usageId, paymentIntentId = intent.Id, now = Now }, ct);
        await payments.RecordAsync(Payment.Authorisation(userId, intent.Id, intent.LatestChargeId, intent.Amount, intent.Currency, usageId), ct);
        logger.LogInformation(BillingLogEvents.PaymentAuthorized, "Usage {UsageId} authorised {Amount} {Currency} as {PaymentIntentId}", usageId, intent.Amount, intent.Currency, intent.Id);
        return new AuthorizationResult(true, intent.Id, null);
    }

    /// <summary>Cancels a PaymentIntent that did not become a hold; a failure here is logged, the usage is refused either way.</summary>
    private async Task CancelLeftOverAsync(string usageId, PaymentIntent intent, CancellationToken ct)
    {
        if (intent.Status is not ("requires_action" or "requires_payment_method" or "requires_confirmation"))
            return;
        try
        {
            await stripe.CancelAuthorizationAsync(usageId, intent.Id, ct);
        }
        catch (StripeException ex)
        {
            logger.LogWarning(ex, "PaymentIntent {PaymentIntentId} of declined usage {UsageId} could not be cancelled", intent.Id, usageId);
        }
    }

    private async Task<AuthorizationResult> FailAsync(string usageId, string message, string? paymentIntentId, CancellationToken ct)
    {
        await db.ExecuteAsync(MarkFailedSql, new { usageId, paymentIntentId, message, now = Now }, ct);
        return AuthorizationResult.Declined(message, paymentIntentId);
    }

    /// <summary>After a successful generation: capture in the background (the customer does not wait for Stripe).</summary>
    public void EnqueueCapture(string usageId) => jobs.Enqueue<PayPerUseCaptureJob>(job => job.RunAsync(usageId, CancellationToken.None));

    /// <summary>After a failed generation: drop the hold in the background.</summary>
    public void EnqueueCancel(string usageId) => jobs.Enqueue<PayPerUseCancelJob>(job => job.RunAsync(usageId, CancellationToken.None));

    // The usage's state (succeeded or released) is read, never written, here: it says whether the hold is captured or dropped.
    private const string ChargeSql = """
        SELECT u.id, u.user_id AS UserId, u.state, c.payment_intent_id AS ChargeReference, c.state AS ChargeState, c.amount_minor AS AmountMinor, c.currency
        FROM usage_charges AS c JOIN usage AS u ON u.id = c.usage_id
        WHERE c.usage_id = @usageId;
        """;

    private const string SetChargeStateSql = """
        UPDATE usage_charges SET state = @state, updated_at = @now
        WHERE usage_id = @usageId AND state IN ('pending', 'authorised');
        """;

    /// <summary>Captures the hold of a succeeded usage. Idempotent: a captured usage is left alone, and Stripe sees the same key twice.</summary>
    public async Task CaptureAsync(string usageId, CancellationToken ct)
    {
        var usage = await LoadAsync(usageId, ct);
        if (usage is not { State: "succeeded", ChargeState: "authorised", ChargeReference: { } paymentIntentId })
            return;
        var intent = await stripe.CaptureAsync(usageId, paymentIntentId, ct);
        await SetStateAsync(usageId, intent.Status == "succeeded" ? "captured" : "failed", ct);
        if (intent.Status == "succeeded")
            await payments.RecordAsync(Payment.Capture(usage.UserId, intent.Id, intent.LatestChargeId, intent.AmountReceived, intent.Currency, usageId), ct);
        logger.LogInformation(BillingLogEvents.PaymentCaptured, "Usage {UsageId} captured {Amount} {Currency} ({PaymentIntentId}: {Status})",
            usageId, intent.AmountReceived, intent.Currency, intent.Id, intent.Status);
    }

    private const string CanceledSql = """
        UPDATE usage_charges SET state = 'canceled', updated_at = @now
        WHERE usage_id = @usageId AND state IN ('pending', 'authorised');

        UPDATE payments SET status = 'canceled', updated_at = @now
        WHERE kind = 'authorisation' AND usage_id = @usageId AND status = 'authorised';
        """;

    /// <summary>Cancels the hold of a released usage. Idempotent like <see cref="CaptureAsync"/>.</summary>
    public async Task CancelAsync(string usageId, CancellationToken ct)
    {
        var usage = await LoadAsync(usageId, ct);
        if (usage is not { State: "released", ChargeState: "authorised" or "pending" })
            return;
        if (usage.ChargeReference is { } paymentIntentId)
        {
            var intent = await stripe.GetPaymentIntentAsync(paymentIntentId, ct);
            if (intent.Status is not ("canceled" or "succeeded"))
                intent = await stripe.CancelAuthorizationAsync(usageId, paymentIntentId, ct);
            logger.LogInformation(BillingLogEvents.AuthorizationCanceled, "Usage {UsageId} authorisation {PaymentIntentId} is {Status}", usageId, paymentIntentId, intent.Status);
        }
        await db.ExecuteAsync(CanceledSql, new { usageId, now = Now }, ct);
    }

    private const string LeftOverSql = """
        SELECT c.usage_id
        FROM usage_charges AS c JOIN usage AS u ON u.id = c.usage_id
        WHERE c.state IN ('pending', 'authorised') AND u.state IN ('succeeded', 'released') AND c.updated_at < @before AND u.updated_at < @before
        ORDER BY c.updated_at
        LIMIT 200;
        """;

    /// <summary>Finishes what a crash left half-done: holds of succeeded usage are captured, the rest cancelled.</summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        List<string> ids;
        await using (var connection = await db.OpenAsync(ct))
            ids = (await connection.QueryAsync<string>(new CommandDefinition(LeftOverSql, new { before = Now.AddMinutes(-1) }, cancellationToken: ct))).ToList();
        foreach (var usageId in ids)
        {
            try
            {
                var usage = await LoadAsync(usageId, ct);
                if (usage?.State == "succeeded")
                    await CaptureAsync(usageId, ct);
                else
                    await CancelAsync(usageId, ct);
            }
            catch (StripeException ex)
            {
                logger.LogWarning(ex, "Sweep could not settle usage {UsageId}", usageId);
            }
        }
        return ids.Count;
    }

    private async Task SetStateAsync(string usageId, string state, CancellationToken ct)
    {
        await db.ExecuteAsync(SetChargeStateSql, new { usageId, state, now = Now }, ct);
    }

    private async Task<ChargeRow?> LoadAsync(string usageId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<ChargeRow>(new CommandDefinition(ChargeSql, new { usageId }, cancellationToken: ct));
    }

    private sealed record ChargeRow
    {
        public string Id { get; init; } = "";
        public string UserId { get; init; } = "";
        public string State { get; init; } = "";
        public string? ChargeReference { get; init; }
        public string? ChargeState { get; init; }
        public long? AmountMinor { get; init; }
        public string? Currency { get; init; }
    }
}

/// <summary>Captures one pay-per-use authorisation; safe to run twice.</summary>
public sealed class PayPerUseCaptureJob(PayPerUse payPerUse)
{
    [AutomaticRetry(Attempts = 8, DelaysInSeconds = [5, 30, 120, 600, 1800, 3600, 7200, 14400])]
    public Task RunAsync(string usageId, CancellationToken ct) => payPerUse.CaptureAsync(usageId, ct);
}

/// <summary>Cancels one pay-per-use authorisation; safe to run twice.</summary>
public sealed class PayPerUseCancelJob(PayPerUse payPerUse)
{
    [AutomaticRetry(Attempts = 8, DelaysInSeconds = [5, 30, 120, 600, 1800, 3600, 7200, 14400])]
    public Task RunAsync(string usageId, CancellationToken ct) => payPerUse.CancelAsync(usageId, ct);
}

/// <summary>Every minute: settles authorisations whose usage finished but whose capture or cancel never ran.</summary>
public sealed class PayPerUseSweepJob(PayPerUse payPerUse)
{
    public const string RecurringId = "billing-pay-per-use-sweep";

    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(120)]
    public Task RunAsync(CancellationToken ct) => payPerUse.SweepAsync(ct);
}
