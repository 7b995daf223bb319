using GenSaaS.Web.Features.Plans;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing.Webhooks;
using Hangfire;
using Microsoft.Data.Sqlite;
using Stripe;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// How a pay-per-use authorisation went: the hold is in place; or Stripe's message for the customer (a decline); or
/// <see cref="Unavailable"/>: Stripe gave no answer (timeout, 429, 5xx), which is never a decline.
/// </summary>
public sealed record AuthorizationResult(bool Authorized, string? PaymentIntentId, string? Message, bool Unavailable = false)
{
    public static AuthorizationResult Declined(string message, string? paymentIntentId = null) => new(false, paymentIntentId, message);

    public static AuthorizationResult Unanswered(string message) => new(false, null, message, Unavailable: true);
    /// <summary>
    /// What the customer reads when their bank wants 3-D Secure for a payment made while they are not there: the card must be
    /// confirmed with them present, which the billing portal does.
    /// </summary>
    public const string AuthenticationRequiredMessage =
        "Your bank asks you to confirm your card before it can be charged. Update your card in the billing portal (your bank will ask you to confirm it there), then try again. You were not charged.";
}

/// <summary>
/// What one attempt to settle a hold came to: <see cref="Changed"/> when this call moved the hold (captured, cancelled, or
/// found ended at Stripe), otherwise the hold stays as it was (<see cref="State"/>) and <see cref="Error"/> says why.
/// </summary>
public sealed record HoldChange(bool Changed, string? State, string? Error = null);

/// <summary>
/// Written in the same write transaction as a hold's change of state, only when this call made the change (an admin
/// action's audit entry); it is given the new state.
/// </summary>
public delegate void AlongsideHoldChange(SqliteConnection connection, SqliteTransaction tx, string newState);

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
        UPDATE usage_charges SET payment_intent_id = @paymentIntentId, state = 'authorised', capture_before = @captureBefore, updated_at = @now
        WHERE usage_id = @usageId AND state = 'pending';
        """;

    private const string MarkUnansweredSql = """
        UPDATE usage_charges SET error = @error, last_error_at = @now, updated_at = @now
        WHERE usage_id = @usageId AND state = 'pending';
        """;

    /// <summary>How long a hold whose authorisation got no answer is looked for at Stripe before it is taken as never placed.</summary>
    public static readonly TimeSpan LostAuthorizationSearch = TimeSpan.FromMinutes(10);

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
        catch (Exception ex) when (StripeGateway.IsUnavailable(ex, ct))
        {
            // The hold may exist at Stripe with its answer lost: the charge stays pending, and the cancel (or the sweep)
            // finds it by its usage id and drops it.
            logger.LogWarning(BillingLogEvents.StripeUnavailable, ex, "Authorisation for usage {UsageId} got no answer from Stripe: {Reason}", usageId, ex.Message);
            await db.ExecuteAsync(MarkUnansweredSql, new { usageId, error = "Stripe did not answer the authorisation: " + ex.Message, now = Now }, ct);
            return AuthorizationResult.Unanswered("The payment could not be processed right now. You were not charged; try again in a moment.");
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

        await db.ExecuteAsync(MarkAuthorizedSql, new { usageId, paymentIntentId = intent.Id, captureBefore = CaptureBefore(intent), now = Now }, ct);
        await payments.RecordAsync(Payment.Authorisation(userId, intent.Id, intent.LatestChargeId, intent.Amount, intent.Currency, usageId)
            with { ReceiptUrl = intent.LatestCharge?.ReceiptUrl }, ct);
        logger.LogInformation(BillingLogEvents.PaymentAuthorized, "Usage {UsageId} authorised {Amount} {Currency} as {PaymentIntentId}", usageId, intent.Amount, intent.Currency, intent.Id);
        return new AuthorizationResult(true, intent.Id, null);
    }

    /// <summary>Stripe's deadline for capturing the hold, from the charge's card details (expanded on authorisation).</summary>
    private static DateTime? CaptureBefore(PaymentIntent intent) =>
        intent.LatestCharge?.PaymentMethodDetails?.Card?.CaptureBefore is { } before && before != default ? DateTime.SpecifyKind(before, DateTimeKind.Utc) : null;
    /// <summary>Cancels a PaymentIntent that did not become a hold; a failure here is logged, the usage is refused either way.</summary>
    private async Task CancelLeftOverAsync(string usageId, PaymentIntent intent, CancellationToken ct)
    {
        if (intent.Status is not ("requires_action" or "requires_payment_method" or "requires_confirmation"))
            return;
        try
        {
            await stripe.CancelAuthorizationAsync(usageId, intent.Id, ct);
        }
        catch (Exception ex) when (ex is StripeException || StripeGateway.IsUnavailable(ex, ct))
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
        SELECT u.id, u.user_id AS UserId, u.state, c.payment_intent_id AS ChargeReference, c.state AS ChargeState, c.amount_minor AS AmountMinor, c.currency,
               c.created_at AS ChargeCreatedAt
        FROM usage_charges AS c JOIN usage AS u ON u.id = c.usage_id
        WHERE c.usage_id = @usageId;
        """;

    private const string SetChargeStateSql = """
        UPDATE usage_charges SET state = @state, error = coalesce(@error, error), updated_at = @now
        WHERE usage_id = @usageId AND state IN ('pending', 'authorised');
        """;

    private const string NextCaptureAttemptSql = """
        UPDATE usage_charges SET capture_attempts = capture_attempts + 1
        WHERE usage_id = @usageId AND state = 'authorised'
        RETURNING capture_attempts;
        """;

    private const string CaptureFailedSql = """
        UPDATE usage_charges SET error = @error, last_error_at = @now, updated_at = @now
        WHERE usage_id = @usageId AND state = 'authorised';
        """;

    /// <summary>
    /// Captures the hold of a succeeded usage. Idempotent: a captured usage is left alone. Each attempt is counted; the
    /// first uses <c>capture:{usageId}</c>, later ones a key of their own, since Stripe answers a key it saw with its saved
    /// answer. When Stripe does not answer, the error is recorded, the hold stays <c>authorised</c> (on the failed-captures
    /// page) and the sweep tries again; a capture that went through with its answer lost is found by reading the intent.
    /// </summary>
    public async Task<HoldChange> CaptureAsync(string usageId, CancellationToken ct, AlongsideHoldChange? alongside = null)
    {
        var usage = await LoadAsync(usageId, ct);
        if (usage is not { State: "succeeded", ChargeState: "authorised", ChargeReference: { } paymentIntentId })
            return new HoldChange(false, usage?.ChargeState, usage is null ? "There is no such hold." : null);
        var attempt = await db.ExecuteScalarAsync<long>(NextCaptureAttemptSql, new { usageId }, ct);
        if (attempt == 0)
            return new HoldChange(false, null);
        PaymentIntent intent;
        try
        {
            intent = await stripe.CaptureAsync(usageId, (int)attempt, paymentIntentId, ct);
        }
        catch (Exception ex) when (StripeGateway.IsUnavailable(ex, ct))
        {
            logger.LogWarning(BillingLogEvents.CaptureFailed, ex, "Capture attempt {Attempt} of usage {UsageId} ({PaymentIntentId}) got no answer from Stripe: {Reason}",
                attempt, usageId, paymentIntentId, ex.Message);
            var error = $"Capture attempt {attempt}: Stripe did not answer ({ex.Message})";
            await db.ExecuteAsync(CaptureFailedSql, new { usageId, error, now = Now }, ct);
            return new HoldChange(false, "authorised", error);
        }
        catch (StripeException ex) when (ex.StripeError?.Code == "payment_intent_unexpected_state")
        {
            // An earlier attempt went through and only its answer was lost, or Stripe ended the hold: the intent says which.
            intent = await stripe.GetPaymentIntentAsync(paymentIntentId, ct);
        }
        return await SettleCapturedAsync(usageId, usage.UserId, intent, alongside, ct);
    }

    /// <summary>Moves the hold to <paramref name="state"/> and, when this call moved it, writes <paramref name="alongside"/> in the same transaction.</summary>
    private Task<bool> SetChargeStateAsync(string usageId, string state, string? error, AlongsideHoldChange? alongside, CancellationToken ct) =>
        db.WriteAsync((connection, tx) =>
        {
            var changed = connection.Execute(SetChargeStateSql, new { usageId, state, error, now = Now }, tx) > 0;
            if (changed)
                alongside?.Invoke(connection, tx, state);
            return changed;
        }, ct);

    private async Task<HoldChange> SettleCapturedAsync(string usageId, string userId, PaymentIntent intent, AlongsideHoldChange? alongside, CancellationToken ct)
    {
        switch (intent.Status)
        {
            case "succeeded":
                var captured = await SetChargeStateAsync(usageId, "captured", null, alongside, ct);
                await payments.RecordAsync(Payment.Capture(userId, intent.Id, intent.LatestChargeId, intent.AmountReceived, intent.Currency, usageId)
                    with { ReceiptUrl = intent.LatestCharge?.ReceiptUrl }, ct);
                logger.LogInformation(BillingLogEvents.PaymentCaptured, "Usage {UsageId} captured {Amount} {Currency} ({PaymentIntentId})",
                    usageId, intent.AmountReceived, intent.Currency, intent.Id);
                return new HoldChange(captured, "captured");
            case "requires_capture":
                await db.ExecuteAsync(CaptureFailedSql, new { usageId, error = "Stripe left the hold uncaptured", now = Now }, ct);
                return new HoldChange(false, "authorised", "Stripe left the hold uncaptured");
            default:
                var error = intent.Status == "canceled"
                    ? intent.CancellationReason == "automatic"
                        ? "Stripe canceled the hold automatically (its authorisation expired) before it was captured"
                        : $"The hold was canceled at Stripe ({intent.CancellationReason ?? "no reason given"}) before it was captured; the generation was not paid"
                    : $"The hold is {intent.Status} at Stripe and cannot be captured";
                var ended = intent.Status == "canceled" ? "canceled" : "failed";
                var changed = await SetChargeStateAsync(usageId, ended, error, alongside, ct);
                logger.LogError(intent.CancellationReason == "automatic" ? BillingLogEvents.HoldExpired : BillingLogEvents.CaptureFailed,
                    "Hold {PaymentIntentId} of usage {UsageId} cannot be captured: {Error}; {Amount} {Currency} not charged", intent.Id, usageId, error, intent.Amount, intent.Currency);
                return new HoldChange(changed, ended, error);
        }
    }

    private const string CanceledSql = """
        UPDATE usage_charges SET state = 'canceled', updated_at = @now
        WHERE usage_id = @usageId AND state IN ('pending', 'authorised');
        """;

    private const string AuthorisationCanceledSql = """
        UPDATE payments SET status = 'canceled', updated_at = @now
        WHERE kind = 'authorisation' AND usage_id = @usageId AND status = 'authorised';
        """;

    private const string FoundLostSql = """
        UPDATE usage_charges SET payment_intent_id = @paymentIntentId, updated_at = @now
        WHERE usage_id = @usageId AND payment_intent_id IS NULL;
        """;

    /// <summary>
    /// Cancels the hold of a released usage (and, with <paramref name="evenIfSucceeded"/>, an admin's release of a succeeded
    /// one's: the generation goes unpaid). Idempotent like <see cref="CaptureAsync"/>. A hold whose authorisation got no
    /// answer is looked for at Stripe by its usage id; one not found is looked for again by the sweep for
    /// <see cref="LostAuthorizationSearch"/>, then taken as never placed.
    /// </summary>
    public async Task<HoldChange> CancelAsync(string usageId, CancellationToken ct, AlongsideHoldChange? alongside = null, bool evenIfSucceeded = false)
    {
        var usage = await LoadAsync(usageId, ct);
        if (usage is not { ChargeState: "authorised" or "pending" } || !(usage.State == "released" || (evenIfSucceeded && usage.State == "succeeded")))
            return new HoldChange(false, usage?.ChargeState, usage is null ? "There is no such hold." : null);
        if (usage.ChargeReference is null && await accounts.FindAsync(usage.UserId, ct) is { } customer)
        {
            if (await stripe.FindAuthorizationAsync(customer.StripeCustomerId, usageId, ct) is { } lost)
            {
                logger.LogInformation(BillingLogEvents.LostAuthorizationFound, "Usage {UsageId}: the authorisation whose answer was lost is {PaymentIntentId} ({Status})",
                    usageId, lost.Id, lost.Status);
                await db.ExecuteAsync(FoundLostSql, new { usageId, paymentIntentId = lost.Id, now = Now }, ct);
                if (lost.Status == "requires_capture")
                    await payments.RecordAsync(Payment.Authorisation(usage.UserId, lost.Id, lost.LatestChargeId, lost.Amount, lost.Currency, usageId), ct);
                usage = usage with { ChargeReference = lost.Id };
            }
            else if (usage.ChargeCreatedAt > Now - LostAuthorizationSearch)
            {
                return new HoldChange(false, usage.ChargeState, "The authorisation is still being looked for at Stripe.");
            }
        }
        if (usage.ChargeReference is { } paymentIntentId)
        {
            var intent = await stripe.GetPaymentIntentAsync(paymentIntentId, ct);
            if (evenIfSucceeded && intent.Status == "succeeded")
                return new HoldChange(false, usage.ChargeState, "Stripe has already captured this hold; it cannot be released (refund the payment instead).");
            if (intent.Status is not ("canceled" or "succeeded"))
                intent = await stripe.CancelAuthorizationAsync(usageId, paymentIntentId, ct);
            logger.LogInformation(BillingLogEvents.AuthorizationCanceled, "Usage {UsageId} authorisation {PaymentIntentId} is {Status}", usageId, paymentIntentId, intent.Status);
        }
        var changed = await db.WriteAsync((connection, tx) =>
        {
            var moved = connection.Execute(CanceledSql, new { usageId, now = Now }, tx) > 0;
            connection.Execute(AuthorisationCanceledSql, new { usageId, now = Now }, tx);
            if (moved)
                alongside?.Invoke(connection, tx, "canceled");
            return moved;
        }, ct);
        return new HoldChange(changed, "canceled");
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
            catch (Exception ex) when (ex is StripeException || StripeGateway.IsUnavailable(ex, ct))
            {
                logger.LogWarning(ex, "Sweep could not settle usage {UsageId}", usageId);
            }
        }
        return ids.Count;
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
        public DateTime ChargeCreatedAt { get; init; }
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
