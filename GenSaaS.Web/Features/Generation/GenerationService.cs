using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Flags;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Features.Shared;
using Hangfire;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Generation;

/// <summary>What a generation request came to: the image (with a fair-use warning, if any), or a stable error code and a message.</summary>
public sealed record GenerationOutcome(GenerationRecord? Generation, int Status, string? ErrorCode, string? ErrorMessage, string? Field = null)
{
    public bool Succeeded => Generation is not null;

    public string? Warning { get; init; }

    /// <summary>Set when the same idempotency key was answered before and this is that answer again.</summary>
    public bool Replayed { get; init; }

    /// <summary>When trying again can succeed (rate and fair-use limits).</summary>
    public DateTime? RetryAt { get; init; }

    public static GenerationOutcome Success(GenerationRecord generation, int status = StatusCodes.Status201Created) => new(generation, status, null, null);

    public static GenerationOutcome Fail(int status, string code, string message, string? field = null) => new(null, status, code, message, field);
}

/// <summary>
/// The one path a generation takes: validate, reserve its funding, generate, store, then complete the usage —
/// or release it so nothing is charged for an image that was not made.
/// </summary>
public sealed class GenerationService(
    Db db,
    CreditLedger ledger,
    AutoTopUps autoTopUps,
    CostRule cost,
    PayPerUse payPerUse,
    BillingModeInfo billing,
    IImageGenerator generator,
    ImageStore images,
    GenerationStore store,
    IBackgroundJobClient jobs,
    IOptions<GenerationOptions> options,
    IOptions<CreditsOptions> creditsOptions,
    TimeProvider clock,
    AppMetrics metrics,
    Serilog.IDiagnosticContext requestLog,
    Microsoft.FeatureManagement.IFeatureManager features,
    PurchaseFlags purchases,
    FlagDefinitions flags,
    ILogger<GenerationService> logger)
{
    public const int MaxIdempotencyKeyLength = 255;

    /// <summary>The Retry-After of a <c>payment_unavailable</c> answer.</summary>
    public const int PaymentUnavailableRetrySeconds = 5;

    /// <summary>What /generate and the API say while the <c>generation</c> flag is off and the operator wrote no message.</summary>
    public const string PausedMessage = "Image generation is paused for now. Nothing was charged; please try again later.";

    /// <summary>Null while generation is on for the user; otherwise the operator's message (the kill switch's).</summary>
    public async Task<string?> PausedAsync(string userId, CancellationToken ct) =>
        await features.IsOnAsync(FlagNames.Generation, userId) ? null : await flags.MessageAsync(FlagNames.Generation, ct) ?? PausedMessage;

    public string? Validate(string? prompt)
    {
        if (string.IsNullOrWhiteSpace(prompt))
            return "Enter a prompt.";
        if (prompt.Length > options.Value.MaxPromptLength)
            return $"The prompt is {prompt.Length} characters; at most {options.Value.MaxPromptLength} are allowed.";
        return null;
    }

    public async Task<GenerationOutcome> GenerateAsync(string userId, string? prompt, long? seed, string? idempotencyKey, CancellationToken ct)
    {
        var (outcome, funding) = await GenerateCountedAsync(userId, prompt, seed, idempotencyKey, ct);
        metrics.Generation(outcome.Succeeded ? outcome.Replayed ? "replayed" : "succeeded" : outcome.ErrorCode ?? "failed", funding);
        return outcome;
    }

    private async Task<(GenerationOutcome Outcome, string? Funding)> GenerateCountedAsync(string userId, string? prompt, long? seed, string? idempotencyKey, CancellationToken ct)
    {
        if (Validate(prompt) is { } problem)
            return (GenerationOutcome.Fail(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, problem, "prompt"), null);
        if (idempotencyKey is { Length: > MaxIdempotencyKeyLength })
            return (GenerationOutcome.Fail(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed,
                $"The Idempotency-Key is longer than {MaxIdempotencyKeyLength} characters.", "Idempotency-Key"), null);
        if (await PausedAsync(userId, ct) is { } paused)
            return (GenerationOutcome.Fail(StatusCodes.Status503ServiceUnavailable, ProblemCodes.GenerationDisabled, paused), null);
        prompt = prompt!.Trim();
        // A key made here is time-ordered (UUID v7), like the usage ids: it lands at the end of the unique index instead of
        // on a random page, so a batch of reservations dirties a page or two of that index rather than one page each.
        var keyIsNew = string.IsNullOrWhiteSpace(idempotencyKey);
        var key = keyIsNew ? Guid.CreateVersion7().ToString("N") : idempotencyKey!.Trim();

        var units = cost.UnitsFor(cost.Request(prompt, seed));
        var hash = RequestHash(prompt, seed);
        // Read before the write transaction (the flags may read the database); a flag off records no top-up and keeps its settings.
        var autoTopUpOn = await purchases.AutoTopUpOffByAsync(userId) is null;
        var started = Stopwatch.GetTimestamp();
        var reservation = await ledger.ReserveAsync(userId, key, hash, units, keyIsNew, ct, awaitTopUp: true, autoTopUpOn: autoTopUpOn);
        metrics.Reservations.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        StartTopUp(reservation);
        if (reservation.Denial is { Reason: DenialReason.TopUpPending, TopUpId: { } pending })
        {
            // No credit, and an auto top-up is being charged: wait for it (bounded), then reserve as before, without waiting again.
            await WaitForTopUpAsync(pending, ct);
            reservation = await ledger.ReserveAsync(userId, key, hash, units, keyIsNew, ct, awaitTopUp: false, autoTopUpOn: autoTopUpOn);
            StartTopUp(reservation);
        }
        if (reservation.Usage is { } reserved)
            requestLog.Set("UsageId", reserved.Id);
        var outcome = reservation.Status switch
        {
            ReserveStatus.Reserved => await RunAsync(userId, prompt, seed, reservation, ct),
            ReserveStatus.Existing => await ReplayAsync(reservation.Usage!, ct),
            ReserveStatus.Conflict => GenerationOutcome.Fail(StatusCodes.Status409Conflict, ProblemCodes.IdempotencyConflict,
                "This Idempotency-Key was already used for a different request."),
            _ => Refused(reservation.Denial!),
        };
        // Out of credits while billing is dark for this customer (feature flags): nothing can be bought, so the answer says so
        // rather than sending them to buy. Read only on this refusal, never on the way to an image.
        if (outcome.ErrorCode == ProblemCodes.InsufficientCredits && await purchases.BillingOffAsync(userId))
            outcome = outcome with { ErrorMessage = NothingToBuy };
        return (outcome, reservation.Usage?.FundingSource);
    }

    /// <summary>The out-of-credits answer while billing is dark: nothing can be bought.</summary>
    public const string NothingToBuy = "You have no credits left, and billing is not available right now, so none can be bought. You were not charged.";

    private void StartTopUp(Reservation reservation)
    {
        if (reservation.AutoTopUpId is { } topUpId)
            AutoTopUpJob.Enqueue(jobs, topUpId);
    }

    /// <summary>Polls the top-up until it is settled or <c>Credits:AutoTopUpWaitSeconds</c> have passed.</summary>
    private async Task WaitForTopUpAsync(long topUpId, CancellationToken ct)
    {
        var deadline = clock.GetUtcNow().AddSeconds(creditsOptions.Value.AutoTopUpWaitSeconds);
        while (clock.GetUtcNow() < deadline && await autoTopUps.GetAsync(topUpId, ct) is { Status: "pending" })
            await Task.Delay(100, ct);
    }

    /// <summary>Why the ledger said no, as the answer the API and the page give.</summary>
    public static GenerationOutcome Refused(Denial denial) => denial.Reason switch
    {
        DenialReason.SubscriptionUnpaid => GenerationOutcome.Fail(StatusCodes.Status402PaymentRequired, ProblemCodes.SubscriptionInactive,
            $"Your monthly plan is {denial.SubscriptionStatus?.Replace('_', ' ')}: update your payment method to continue."),
        DenialReason.FairUseCap => GenerationOutcome.Fail(StatusCodes.Status429TooManyRequests, ProblemCodes.FairUseLimit,
            $"You have made {denial.Used} images this period, the fair-use maximum of your plan. It resets on {denial.RetryAt:yyyy-MM-dd}.")
            with { RetryAt = denial.RetryAt },
        DenialReason.SpendCap => GenerationOutcome.Fail(StatusCodes.Status402PaymentRequired, ProblemCodes.SpendLimitReached,
            $"This image would take your pay-per-use spend this month above your cap of {Billing.BillingOverview.Money(denial.SpendCapMinor, denial.Currency ?? "usd")} " +
            $"({Billing.BillingOverview.Money(denial.Used, denial.Currency ?? "usd")} spent so far). You were not charged. The cap resets on {denial.RetryAt:yyyy-MM-dd} (UTC); " +
            "raise or clear it on the billing page.")
            with { RetryAt = denial.RetryAt },
        _ => GenerationOutcome.Fail(StatusCodes.Status402PaymentRequired, ProblemCodes.InsufficientCredits,
            "You have no credits left. Buy a bundle, save a card to pay per image, or subscribe."),
    };

    /// <summary>The fair-use warning an answer carries, from 80 % of the plan's soft limit on.</summary>
    public static string? Warning(FairUseLevel? level) => level switch
    {
        null => null,
        { Above: true } => $"You have made {level.Used} images this period, above the fair-use level of {level.SoftLimit}. Generation stops at {level.HardCap}.",
        { NearOrAbove: true } => $"You have made {level.Used} of {level.SoftLimit} images in this period's fair-use allowance.",
        _ => null,
    };

    private async Task<GenerationOutcome> RunAsync(string userId, string prompt, long? seed, Reservation reservation, CancellationToken ct)
    {
        var usage = reservation.Usage!;
        foreach (var threshold in reservation.Notices ?? [])
            jobs.Enqueue<FairUseNoticeJob>(job => job.SendAsync(userId, usage.SubscriptionId!, threshold, CancellationToken.None));
        if (reservation.LowBalanceNoticeId is { } lowBalanceNotice)
            jobs.Enqueue<LowBalanceNoticeJob>(job => job.SendAsync(lowBalanceNotice));

        var paidPerUse = usage.Source == FundingSource.PayPerUse;
        if (paidPerUse && await AuthorizeAsync(usage, ct) is { } declined)
            return declined;

        var id = Guid.CreateVersion7().ToString("N");
        var actualSeed = seed ?? Random.Shared.NextInt64(0, int.MaxValue);
        var watch = Stopwatch.StartNew();
        GeneratedImage image;
        StoredImage stored;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(options.Value.TimeoutSeconds));
            image = await generator.GenerateAsync(prompt, actualSeed, timeout.Token);
            stored = await images.SaveAsync(userId, id, image, timeout.Token);
        }
        catch (Exception ex)
        {
            // Whatever went wrong, nothing is charged for an image that was not made. A failure of the backend is the
            // customer's 502; anything else is a fault here, answered as one (500) once the credit is back.
            var expected = ex is GenerationFailedException or OperationCanceledException or HttpRequestException or IOException;
            if (expected)
                logger.LogWarning(ex, "Generation {GenerationId} for {UserId} failed (usage {UsageId})", id, userId, usage.Id);
            var message = ex switch
            {
                GenerationFailedException failed => failed.Message,
                OperationCanceledException when !ct.IsCancellationRequested => "The image took too long to make.",
                _ => "The image could not be made.",
            };
            await ledger.ReleaseAsync(usage.Id, ProblemCodes.GenerationFailed, message, CancellationToken.None, freeKey: true);
            if (paidPerUse)
                payPerUse.EnqueueCancel(usage.Id);
            images.Delete(userId, id);
            if (!expected)
                throw;
            return GenerationOutcome.Fail(StatusCodes.Status502BadGateway, ProblemCodes.GenerationFailed, message + " You were not charged.");
        }

        var record = new GenerationRecord(id, userId, prompt, actualSeed, options.Value.Backend.ToString(), image.Width, image.Height,
            watch.ElapsedMilliseconds, clock.GetUtcNow().UtcDateTime);
        if (!await CompleteAsync(usage.Id, record, stored))
        {
            if (paidPerUse)
                payPerUse.EnqueueCancel(usage.Id);
            images.Delete(userId, id);
            logger.LogWarning("Generation {GenerationId} finished after its reservation {UsageId} was released; discarded", id, usage.Id);
            return GenerationOutcome.Fail(StatusCodes.Status504GatewayTimeout, ProblemCodes.GenerationFailed,
                "The image took too long to make. You were not charged.");
        }

        if (paidPerUse)
            payPerUse.EnqueueCapture(usage.Id);
        logger.LogInformation(LogEvents.UsageCompleted, "Generation {GenerationId} for {UserId} made in {DurationMs} ms, paid by {FundingSource} (usage {UsageId})",
            id, userId, record.DurationMs, usage.FundingSource, usage.Id);
        return GenerationOutcome.Success(record) with { Warning = Warning(reservation.FairUse) };
    }

    /// <summary>
    /// One write transaction: the usage is marked succeeded and the generation, with the parts of its image kept in the
    /// database, is stored beside it. False when the reservation was already released (the sweeper gave up on it).
    /// </summary>
    private Task<bool> CompleteAsync(string usageId, GenerationRecord generation, StoredImage image) =>
        db.WriteAsync((connection, tx) =>
        {
            if (!ledger.Complete(connection, tx, usageId, generation.Id))
                return false;
            GenerationStore.Insert(connection, tx, generation);
            ImageStore.Record(connection, tx, generation.Id, image);
            return true;
        });

    /// <summary>
    /// Pay per use: holds the price on the saved card before any work is done. A decline releases the reservation and
    /// answers 402 <c>payment_failed</c> with Stripe's message; null means the hold is in place.
    /// </summary>
    private async Task<GenerationOutcome?> AuthorizeAsync(UsageRow usage, CancellationToken ct)
    {
        if (!billing.IsPayPerUseAvailable)
        {
            await ledger.ReleaseAsync(usage.Id, ProblemCodes.BillingDisabled, "Paying per image is not available on this server.", CancellationToken.None);
            return GenerationOutcome.Fail(StatusCodes.Status503ServiceUnavailable, ProblemCodes.BillingDisabled, "Paying per image is not available on this server.");
        }
        if (!await purchases.PayPerUseOnAsync(usage.UserId))
        {
            // The operator turned billing or pay per use off (feature flags): no hold, the reservation released, nothing charged.
            const string off = "Paying per image is not available right now. Nothing was charged.";
            await ledger.ReleaseAsync(usage.Id, ProblemCodes.BillingDisabled, off, CancellationToken.None);
            return GenerationOutcome.Fail(StatusCodes.Status503ServiceUnavailable, ProblemCodes.BillingDisabled, off);
        }

        AuthorizationResult result;
        try
        {
            result = await payPerUse.AuthorizeAsync(usage.Id, usage.UserId, usage.Units, ct);
        }
        catch (Exception ex) when (ex is Stripe.StripeException || StripeGateway.IsUnavailable(ex, ct))
        {
            // Stripe's answer to a step after the hold (e.g. cancelling one that needs the customer) did not come: not a decline either.
            logger.LogWarning(ex, "Authorisation for usage {UsageId} could not be completed with Stripe", usage.Id);
            result = AuthorizationResult.Unanswered("The payment could not be processed right now. You were not charged; try again in a moment.");
        }
        if (result.Authorized)
            return null;
        if (result.Unavailable)
        {
            // Never a decline: the credit goes back, any hold placed without an answer is found and dropped, and the customer may
            // retry, with the same Idempotency-Key too (freed here, so the retry is a new attempt, not a replay of this answer).
            await ledger.ReleaseAsync(usage.Id, ProblemCodes.PaymentUnavailable, result.Message!, CancellationToken.None, freeKey: true);
            payPerUse.EnqueueCancel(usage.Id);
            return GenerationOutcome.Fail(StatusCodes.Status503ServiceUnavailable, ProblemCodes.PaymentUnavailable, result.Message!)
                with { RetryAt = clock.GetUtcNow().UtcDateTime.AddSeconds(PaymentUnavailableRetrySeconds) };
        }
        await ledger.ReleaseAsync(usage.Id, ProblemCodes.PaymentFailed, result.Message ?? "Your card was declined.", CancellationToken.None);
        return GenerationOutcome.Fail(StatusCodes.Status402PaymentRequired, ProblemCodes.PaymentFailed, result.Message ?? "Your card was declined.");
    }

    /// <summary>The same key again: wait for the first request if it is still running, then answer what it answered.</summary>
    private async Task<GenerationOutcome> ReplayAsync(UsageRow usage, CancellationToken ct)
    {
        var deadline = clock.GetUtcNow().AddSeconds(creditsOptions.Value.IdempotentWaitSeconds);
        while (usage.State == "reserved" && clock.GetUtcNow() < deadline)
        {
            await Task.Delay(25, ct);
            usage = await ledger.GetUsageAsync(usage.Id, ct) ?? usage;
        }

        if (usage.State == "succeeded" && usage.GenerationId is { } generationId)
        {
            if (await store.GetAsync(generationId, ct) is { } generation)
                return GenerationOutcome.Success(generation) with { Replayed = true };
            // The customer deleted the image since: the key is spent, and nothing is made or charged again.
            return GenerationOutcome.Fail(StatusCodes.Status410Gone, ProblemCodes.GenerationDeleted,
                "The image made for this Idempotency-Key has been deleted; it was charged once and is not made again.") with { Replayed = true };
        }
        if (usage.State == "released")
        {
            var code = usage.ErrorCode ?? ProblemCodes.GenerationFailed;
            var message = usage.Error ?? "The image could not be made.";
            var status = code switch
            {
                ProblemCodes.PaymentFailed => StatusCodes.Status402PaymentRequired,
                ProblemCodes.PaymentUnavailable => StatusCodes.Status503ServiceUnavailable,
                _ => StatusCodes.Status502BadGateway,
            };
            return GenerationOutcome.Fail(status, code, message) with { Replayed = true };
        }
        return GenerationOutcome.Fail(StatusCodes.Status409Conflict, ProblemCodes.IdempotencyConflict,
            "A request with this Idempotency-Key is still in progress; try again shortly.");
    }

    /// <summary>Identifies the request behind an idempotency key, so the same key with another prompt is refused.</summary>
    public static string RequestHash(string prompt, long? seed) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{seed?.ToString() ?? "-"}\n{prompt}")));
}
