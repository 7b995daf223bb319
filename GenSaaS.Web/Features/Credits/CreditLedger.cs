using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Plans;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Credits;

public enum CreditBucket { Trial, Prepaid }

public enum FundingSource { Trial, Prepaid, Subscription, PayPerUse }

public enum ReserveStatus { Reserved, Existing, Conflict, Denied }

/// <summary>
/// A <c>usage</c> row: one generation attempt, how it is paid for and how many units it costs. A released usage says why
/// with a stable code (<see cref="ErrorCode"/>) beside the message.
/// </summary>
public sealed record UsageRow(
    string Id, string UserId, string IdempotencyKey, string RequestHash, string State, string FundingSource, long Units,
    string? SubscriptionId, string? GenerationId, string? ErrorCode, string? Error, DateTime CreatedAt)
{
    public const string Columns = """
        id, user_id AS UserId, idempotency_key AS IdempotencyKey, request_hash AS RequestHash, state,
        funding_source AS FundingSource, units, subscription_id AS SubscriptionId, generation_id AS GenerationId,
        error_code AS ErrorCode, error, created_at AS CreatedAt
        """;

    public FundingSource Source => CreditLedger.ParseSource(FundingSource);
}

/// <summary>
/// What a reservation came to: the usage, or why not (<see cref="Denial"/>). On a monthly plan, <see cref="FairUse"/> is where
/// the period stands and <see cref="Notices"/> the fair-use thresholds crossed for the first time this period.
/// <see cref="AutoTopUpId"/> is an auto top-up this reservation recorded (the caller starts its charge), reserved or not.
/// </summary>
public sealed record Reservation(
    ReserveStatus Status, UsageRow? Usage, Denial? Denial = null, FairUseLevel? FairUse = null, IReadOnlyList<int>? Notices = null,
    long? LowBalanceNoticeId = null, long? AutoTopUpId = null);

/// <summary>A ledger change: whether it was applied (false when its reference was already recorded), its line and the amount moved.</summary>
public sealed record LedgerResult(bool Applied, long? EntryId, int Amount, int BalanceAfter);

/// <summary>
/// The credit ledger: balances, the append-only ledger, usage rows and the funding policy. Every change is one
/// <c>BEGIN IMMEDIATE</c> transaction, so no credit is spent twice and no balance goes below zero. It knows nothing of
/// Stripe or images: what it needs of subscriptions and cards comes through <see cref="IFundingFacts"/>, and it answers
/// with reasons, which the callers turn into answers.
/// </summary>
public sealed class CreditLedger(Db db, IFundingFacts funding, PlanCatalog plans, IOptions<CreditsOptions> options, TimeProvider clock, ILogger<CreditLedger> logger)
{
    public const string SystemActor = "system";

    public static FundingSource ParseSource(string name) => name switch
    {
        "trial" => FundingSource.Trial,
        "prepaid" => FundingSource.Prepaid,
        "subscription" => FundingSource.Subscription,
        "pay_per_use" => FundingSource.PayPerUse,
        _ => throw new InvalidOperationException($"Unknown funding source '{name}'"),
    };

    public static string BucketName(CreditBucket bucket) => bucket == CreditBucket.Trial ? "trial" : "prepaid";

    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    private const string FindUsageByKeySql = $"""
        SELECT {UsageRow.Columns}
        FROM usage
        WHERE user_id = @userId AND idempotency_key = @idempotencyKey;
        """;

    private const string BalanceSql = """
        SELECT trial_balance AS Trial, prepaid_balance AS Prepaid FROM credit_balances WHERE user_id = @userId;
        """;

    private const string InsertUsageSql = """
        INSERT INTO usage (id, user_id, idempotency_key, request_hash, state, funding_source, units,
                           subscription_id, period_start, period_key, amount_minor, created_at, updated_at)
        VALUES (@Id, @UserId, @IdempotencyKey, @RequestHash, 'reserved', @FundingSource, @Units,
                @SubscriptionId, @PeriodStart, @PeriodKey, @AmountMinor, @Now, @Now);

        INSERT INTO usage_counters (user_id, period_key, used) VALUES (@UserId, @PeriodKey, @Units)
        ON CONFLICT (user_id, period_key) DO UPDATE SET used = used + excluded.used;
        """;

    /// <summary>The counter key of a plan period: the subscription's own period, else the calendar month (UTC).</summary>
    public static string PeriodKey(SubscriptionFacts? liveSubscription, DateTime now) =>
        liveSubscription is { PeriodStart: { } start }
            ? $"sub:{liveSubscription.Id}:{Db.FormatTime(start)}"
            : $"month:{now:yyyy-MM}";

    private const string PeriodUsedSql = """
        SELECT used FROM usage_counters WHERE user_id = @userId AND period_key = @periodKey;
        """;

    /// <summary>Units reserved or used in the period (released ones are taken off again).</summary>
    public static long PeriodUsed(SqliteConnection connection, SqliteTransaction? tx, string userId, string periodKey) =>
        connection.Prepared(tx, PeriodUsedSql, ("@userId", userId), ("@periodKey", periodKey)).ExecuteScalar() is long used ? used : 0;

    /// <summary>The trial and prepaid balances, or null before the account's first use.</summary>
    public static (long Trial, long Prepaid)? ReadBalance(SqliteConnection connection, SqliteTransaction? tx, string userId)
    {
        using var reader = connection.Prepared(tx, BalanceSql, ("@userId", userId)).ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0), reader.GetInt64(1)) : null;
    }

    /// <summary>
    /// Picks the funding source with <see cref="FundingOrder.Choose"/> (a live monthly plan within its hard cap; then trial,
    /// then prepaid credits when one bucket covers the <paramref name="units"/>; pay per use with a saved card) and
    /// records a reservation of those units keyed by the caller's idempotency key, taking the credits when credits pay.
    /// <paramref name="keyIsNew"/> says the key was made for this request just now (a UUID v7, when the caller sent none):
    /// nothing can have used it, so it is not looked up. The unique index still stands behind it.
    /// Auto top-up: a prepaid debit that leaves the balance below the customer's threshold records a top-up
    /// (<see cref="AutoTopUps.RecordIfDue"/>), and so does a reservation that credits cannot pay for. With
    /// <paramref name="awaitTopUp"/>, one that credits cannot pay for while a top-up is pending is refused with
    /// <see cref="DenialReason.TopUpPending"/> (the caller waits for it and asks again without), instead of charging the card
    /// per use or failing. <paramref name="autoTopUpOn"/> false (the operator's flags turned auto top-up off for the customer,
    /// read by the caller) records no top-up and leaves its settings as they are.
    /// </summary>
    public Task<Reservation> ReserveAsync(string userId, string idempotencyKey, string requestHash, int units = 1, bool keyIsNew = false, CancellationToken ct = default,
        bool awaitTopUp = false, bool autoTopUpOn = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(units, 1);
        return db.WriteAsync((connection, tx) => Reserve(connection, tx, userId, idempotencyKey, requestHash, units, keyIsNew, awaitTopUp, autoTopUpOn), ct);
    }

    private Reservation Reserve(SqliteConnection connection, SqliteTransaction tx, string userId, string idempotencyKey, string requestHash, int units, bool keyIsNew,
        bool awaitTopUp, bool autoTopUpOn)
    {
        var existing = keyIsNew ? null : ReadUsage(connection.Prepared(tx, FindUsageByKeySql, ("@userId", userId), ("@idempotencyKey", idempotencyKey)));
        if (existing is not null)
            return new Reservation(existing.RequestHash == requestHash ? ReserveStatus.Existing : ReserveStatus.Conflict, existing);

        var now = Now;
        var balance = Balance(connection, tx, userId, now);
        var usage = new NewUsage(Guid.CreateVersion7().ToString("N"), userId, idempotencyKey, requestHash, units, now) { PeriodKey = PeriodKey(null, now) };

        var facts = funding.Read(connection, tx, userId);
        var live = facts.Subscription is { } current && current.IsActiveAt(now) ? current : null;
        var plan = live is null ? null : plans.Find(live.PlanKey) ?? plans.Get(PlanCatalog.SubscriptionUnlimited);
        var used = live is null ? 0 : PeriodUsed(connection, tx, userId, PeriodKey(live, now));
        var choice = FundingOrder.Choose(new FundingState(balance.Trial, balance.Prepaid, facts, used, plan?.HardCap ?? 0), units, now);

        long? topUp = null;
        if (choice.Source is not (FundingSource.Subscription or FundingSource.Trial or FundingSource.Prepaid))
        {
            // Credits cannot pay: below the threshold, that is a crossing too (auto top-up turned on with the balance already low).
            topUp = AutoTopUps.RecordIfDue(connection, tx, plans, userId, balance.Prepaid, facts.HasSavedCard, now, autoTopUpOn);
            if (awaitTopUp && (topUp ?? AutoTopUps.PendingId(connection, tx, userId)) is { } pending)
                return new Reservation(ReserveStatus.Denied, null, new Denial(DenialReason.TopUpPending, TopUpId: pending), AutoTopUpId: topUp);
        }

        switch (choice.Source)
        {
            case FundingSource.Subscription:
                return ReserveOnSubscription(connection, tx, usage, live!, plan!, used);
            case FundingSource.Trial or FundingSource.Prepaid:
                var bucket = choice.Source == FundingSource.Trial ? CreditBucket.Trial : CreditBucket.Prepaid;
                usage = usage with { FundingSource = BucketName(bucket) };
                InsertUsage(connection, tx, usage);
                ApplyChange(connection, tx, userId, bucket, "debit", -units, "Generation", usage.Id, SystemActor, now);
                var lowBalanceNotice = bucket == CreditBucket.Prepaid ? LowBalance.WarnOnCrossing(connection, tx, userId, balance.Prepaid - units, now) : null;
                var crossingTopUp = bucket == CreditBucket.Prepaid
                    ? AutoTopUps.RecordIfDue(connection, tx, plans, userId, balance.Prepaid - units, facts.HasSavedCard, now, autoTopUpOn)
                    : null;
                return new Reservation(ReserveStatus.Reserved, ToRow(usage), LowBalanceNoticeId: lowBalanceNotice, AutoTopUpId: crossingTopUp);
            case FundingSource.PayPerUse:
                var price = plans.Get(PlanCatalog.PayPerUse);
                var amountMinor = units * price.PriceMinor;
                if (SpendCaps.Read(connection, tx, userId) is { } cap)
                {
                    var monthStart = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
                    var spent = SpendCaps.SpentSince(connection, tx, userId, monthStart);
                    if (spent + amountMinor > cap)
                        return Denied(new Denial(DenialReason.SpendCap, spent, RetryAt: monthStart.AddMonths(1), SpendCapMinor: cap, Currency: price.Currency)) with { AutoTopUpId = topUp };
                }
                usage = usage with { FundingSource = "pay_per_use", AmountMinor = amountMinor };
                InsertUsage(connection, tx, usage);
                return new Reservation(ReserveStatus.Reserved, ToRow(usage), AutoTopUpId: topUp);
            default:
                return Denied(choice.Denial!) with { AutoTopUpId = topUp };
        }
    }

    /// <summary>The balances, creating the account (with its trial credits) the first time.</summary>
    private (long Trial, long Prepaid) Balance(SqliteConnection connection, SqliteTransaction tx, string userId, DateTime now)
    {
        if (ReadBalance(connection, tx, userId) is { } balance)
            return balance;
        EnsureAccount(connection, tx, userId, now);
        return ReadBalance(connection, tx, userId) ?? throw new InvalidOperationException($"No balance row for {userId}");
    }

    private static void InsertUsage(SqliteConnection connection, SqliteTransaction tx, NewUsage u) =>
        connection.Prepared(tx, InsertUsageSql,
            ("@Id", u.Id), ("@UserId", u.UserId), ("@IdempotencyKey", u.IdempotencyKey), ("@RequestHash", u.RequestHash),
            ("@FundingSource", u.FundingSource), ("@Units", u.Units), ("@SubscriptionId", u.SubscriptionId),
            ("@PeriodStart", u.PeriodStart is { } start ? Db.FormatTime(start) : null), ("@PeriodKey", u.PeriodKey), ("@AmountMinor", u.AmountMinor), ("@Now", Db.FormatTime(u.Now)))
        .ExecuteNonQuery();

    private static UsageRow? ReadUsage(SqliteCommand command)
    {
        using var r = command.ExecuteReader();
        if (!r.Read())
            return null;
        return new UsageRow(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetInt64(6),
            r.GetNullableString(7), r.GetNullableString(8), r.GetNullableString(9), r.GetNullableString(10), r.GetUtcDateTime(11));
    }

    private static Reservation Denied(Denial denial) => new(ReserveStatus.Denied, null, denial);

    private const string InsertNoticeSql = """
        INSERT INTO usage_notices (user_id, period_start, threshold, sent_at) VALUES (@userId, @periodStart, @threshold, @now)
        ON CONFLICT DO NOTHING;
        """;

    private Reservation ReserveOnSubscription(SqliteConnection connection, SqliteTransaction tx, NewUsage usage, SubscriptionFacts subscription, PlanOptions plan, long used)
    {
        var periodStart = subscription.PeriodStart!.Value;
        var periodKey = PeriodKey(subscription, usage.Now);
        usage = usage with { FundingSource = "subscription", SubscriptionId = subscription.Id, PeriodStart = periodStart, PeriodKey = periodKey };
        InsertUsage(connection, tx, usage);

        var level = new FairUseLevel(used + usage.Units, plan.SoftLimit, plan.HardCap);
        var notices = new List<int>();
        foreach (var threshold in FairUseThresholds)
        {
            if (level.Used * 100 < (long)plan.SoftLimit * threshold)
                continue;
            var sent = connection.Prepared(tx, InsertNoticeSql, ("@userId", usage.UserId), ("@periodStart", Db.FormatTime(periodStart)),
                ("@threshold", threshold), ("@now", Db.FormatTime(usage.Now))).ExecuteNonQuery();
            if (sent == 1)
                notices.Add(threshold);
        }
        return new Reservation(ReserveStatus.Reserved, ToRow(usage), FairUse: level, Notices: notices);
    }

    /// <summary>Shares of the soft limit (in %) at which a subscriber is told once per period.</summary>
    private static readonly int[] FairUseThresholds = [80, 100];

    private const string CompleteSql = """
        UPDATE usage SET state = 'succeeded', generation_id = @generationId, updated_at = @now
        WHERE id = @usageId AND state = 'reserved';
        """;

    /// <summary>
    /// Marks the usage succeeded, inside the caller's write transaction (the caller stores what the usage paid for in the
    /// same one). False when the reservation was already released (the sweeper gave up on it): nothing is charged.
    /// </summary>
    public bool Complete(SqliteConnection connection, SqliteTransaction tx, string usageId, string generationId) =>
        connection.Prepared(tx, CompleteSql, ("@usageId", usageId), ("@generationId", generationId), ("@now", Db.FormatTime(Now))).ExecuteNonQuery() == 1;

    private const string ReleaseSql = """
        UPDATE usage SET state = 'released', error_code = @errorCode, error = @error, updated_at = @now,
               idempotency_key = CASE WHEN @freeKey = 1 THEN idempotency_key || ':released:' || id ELSE idempotency_key END
        WHERE id = @usageId AND state = 'reserved'
        RETURNING user_id, funding_source, period_key, units;
        """;

    private const string UncountSql = """
        UPDATE usage_counters SET used = used - @units WHERE user_id = @userId AND period_key = @periodKey;
        """;

    /// <summary>
    /// Releases a reservation and gives its units back, recording why (<paramref name="errorCode"/>, a stable code, and
    /// <paramref name="error"/>, the message). Safe to call twice: only a reserved usage is released. With
    /// <paramref name="freeKey"/> (a failure the caller is told to retry: nothing was made, nothing charged) the caller's
    /// idempotency key is freed, so a retry with the same key is a new attempt instead of a replay of this failure; the
    /// released usage keeps the key with <c>:released:{id}</c> appended.
    /// </summary>
    public async Task<bool> ReleaseAsync(string usageId, string errorCode, string error, CancellationToken ct = default, bool freeKey = false)
    {
        var released = await db.WriteAsync((connection, tx) =>
        {
            var now = Now;
            ReleasedUsage? row;
            using (var reader = connection.Prepared(tx, ReleaseSql, ("@usageId", usageId), ("@errorCode", errorCode), ("@error", error),
                       ("@now", Db.FormatTime(now)), ("@freeKey", freeKey ? 1 : 0)).ExecuteReader())
                row = reader.Read() ? new ReleasedUsage(reader.GetString(0), ParseSource(reader.GetString(1)), reader.GetString(2), (int)reader.GetInt64(3)) : null;
            if (row is null)
                return false;
            connection.Prepared(tx, UncountSql, ("@userId", row.UserId), ("@periodKey", row.PeriodKey), ("@units", row.Units)).ExecuteNonQuery();
            if (row.Source is FundingSource.Trial or FundingSource.Prepaid)
            {
                var bucket = row.Source == FundingSource.Trial ? CreditBucket.Trial : CreditBucket.Prepaid;
                ApplyChange(connection, tx, row.UserId, bucket, "release", row.Units, "Generation failed: credit returned", usageId, SystemActor, now);
            }
            return true;
        }, ct);
        if (released)
            logger.LogInformation(LogEvents.UsageReleased, "Usage {UsageId} released: {ErrorCode} {Reason}", usageId, errorCode, error);
        return released;
    }

    /// <summary>Adds credits (a purchase, a trial, an admin grant). Idempotent on <paramref name="reference"/>.</summary>
    public Task<LedgerResult> GrantAsync(string userId, CreditBucket bucket, int amount, string reason, string? reference, string actor, CancellationToken ct = default)
    {
        if (amount <= 0)
            throw new ArgumentOutOfRangeException(nameof(amount), "A grant adds at least one credit");
        return ChangeAsync(userId, bucket, "grant", amount, reason, reference, actor, clampToBalance: false, ct);
    }

    /// <summary>
    /// <see cref="GrantAsync"/> inside the caller's write transaction (a bundle's purchase records its payment row in the same
    /// one). Idempotent on <paramref name="reference"/>: a second call answers the first line with <see cref="LedgerResult.Applied"/>
    /// false. The caller logs after the commit (<see cref="LogGrant"/>).
    /// </summary>
    public LedgerResult Grant(SqliteConnection connection, SqliteTransaction tx, string userId, CreditBucket bucket, int amount, string reason, string reference, string actor)
    {
        if (amount <= 0)
            throw new ArgumentOutOfRangeException(nameof(amount), "A grant adds at least one credit");
        if (connection.QuerySingleOrDefault<LedgerEntryRef>(FindEntrySql, new { kind = "grant", reference }, tx) is { } done)
            return new LedgerResult(false, done.Id, (int)done.Amount, (int)done.BalanceAfter);
        return Change(connection, tx, userId, bucket, "grant", amount, reason, reference, actor, clampToBalance: false);
    }

    /// <summary>Logs a committed <see cref="Grant"/> as every other credit change is logged.</summary>
    public void LogGrant(string userId, CreditBucket bucket, int amount, string actor, string reason, string reference) =>
        LogChange("grant", amount, bucket, userId, actor, reason, reference);

    /// <summary>An admin's signed correction; a negative one cannot take the balance below zero (it fails instead).</summary>
    public Task<LedgerResult> AdjustAsync(string userId, CreditBucket bucket, int amount, string reason, string? reference, string actor, CancellationToken ct = default)
    {
        if (amount == 0)
            throw new ArgumentOutOfRangeException(nameof(amount), "An adjustment moves at least one credit");
        return ChangeAsync(userId, bucket, "adjustment", amount, reason, reference, actor, clampToBalance: false, ct);
    }

    /// <summary>Takes back up to <paramref name="amount"/> unused credits after a refund; never below zero. Idempotent on reference.</summary>
    public Task<LedgerResult> TakeBackAsync(string userId, CreditBucket bucket, int amount, string reason, string reference, string actor, CancellationToken ct = default)
    {
        if (amount <= 0)
            throw new ArgumentOutOfRangeException(nameof(amount), "Take back at least one credit");
        return ChangeAsync(userId, bucket, "refund_reversal", -amount, reason, reference, actor, clampToBalance: true, ct);
    }

    /// <summary>
    /// <see cref="TakeBackAsync"/> inside the caller's write transaction (a refund records its payment row in the same one).
    /// Idempotent on <paramref name="reference"/>: a second call answers the first line with <see cref="LedgerResult.Applied"/> false.
    /// The caller logs after the commit (<see cref="LogTakeBack"/>).
    /// </summary>
    public LedgerResult TakeBack(SqliteConnection connection, SqliteTransaction tx, string userId, CreditBucket bucket, int amount, string reason, string reference, string actor)
    {
        if (amount <= 0)
            throw new ArgumentOutOfRangeException(nameof(amount), "Take back at least one credit");
        if (connection.QuerySingleOrDefault<LedgerEntryRef>(FindEntrySql, new { kind = "refund_reversal", reference }, tx) is { } done)
            return new LedgerResult(false, done.Id, (int)done.Amount, (int)done.BalanceAfter);
        return Change(connection, tx, userId, bucket, "refund_reversal", -amount, reason, reference, actor, clampToBalance: true);
    }

    /// <summary>Logs a committed <see cref="TakeBack"/> as every other credit change is logged.</summary>
    public void LogTakeBack(string userId, CreditBucket bucket, int amount, string actor, string reason, string reference) =>
        LogChange("refund_reversal", -amount, bucket, userId, actor, reason, reference);

    private const string FindEntrySql = """
        SELECT id, amount, balance_after AS BalanceAfter FROM credit_ledger WHERE kind = @kind AND reference = @reference;
        """;

    private async Task<LedgerResult> ChangeAsync(string userId, CreditBucket bucket, string kind, int amount, string reason, string? reference, string actor, bool clampToBalance, CancellationToken ct)
    {
        var result = await db.WriteAsync((connection, tx) =>
        {
            if (reference is not null && connection.QuerySingleOrDefault<LedgerEntryRef>(FindEntrySql, new { kind, reference }, tx) is { } done)
                return new LedgerResult(false, done.Id, (int)done.Amount, (int)done.BalanceAfter);
            return Change(connection, tx, userId, bucket, kind, amount, reason, reference, actor, clampToBalance);
        }, ct);
        if (result.Applied)
            LogChange(kind, result.Amount, bucket, userId, actor, reason, reference);
        return result;
    }

    /// <summary>
    /// Grants an auto top-up's bundle for its paid PaymentIntent and marks the top-up succeeded, in one write transaction.
    /// Idempotent on the PaymentIntent id (the webhook and the charging job may both get here); null when no such top-up.
    /// </summary>
    public async Task<LedgerResult?> GrantTopUpAsync(long topUpId, string paymentIntentId, string reason, CancellationToken ct = default)
    {
        string? userId = null;
        var result = await db.WriteAsync((connection, tx) =>
        {
            if (AutoTopUps.Read(connection, tx, topUpId) is not { } topUp)
                return null;
            userId = topUp.UserId;
            var grant = connection.QuerySingleOrDefault<LedgerEntryRef>(FindEntrySql, new { kind = "grant", reference = paymentIntentId }, tx) is { } done
                ? new LedgerResult(false, done.Id, (int)done.Amount, (int)done.BalanceAfter)
                : Change(connection, tx, topUp.UserId, CreditBucket.Prepaid, "grant", topUp.Credits, reason, paymentIntentId, SystemActor, clampToBalance: false);
            AutoTopUps.Succeed(connection, tx, topUpId, paymentIntentId, grant.EntryId, Now);
            return grant;
        }, ct);
        if (result is { Applied: true })
            LogChange("grant", result.Amount, CreditBucket.Prepaid, userId!, SystemActor, reason, paymentIntentId);
        return result;
    }

    private void LogChange(string kind, int amount, CreditBucket bucket, string userId, string actor, string reason, string? reference) =>
        logger.LogInformation(LogEvents.CreditsChanged, "Credits {Kind} {Amount} {Bucket} for {UserId} by {Actor}: {Reason} ({Reference})",
            kind, amount, BucketName(bucket), userId, actor, reason, reference);

    private LedgerResult Change(SqliteConnection connection, SqliteTransaction tx, string userId, CreditBucket bucket, string kind, int amount,
        string reason, string? reference, string actor, bool clampToBalance)
    {
        var now = Now;
        var balance = Balance(connection, tx, userId, now);
        var current = bucket == CreditBucket.Trial ? balance.Trial : balance.Prepaid;
        var change = clampToBalance ? (int)Math.Max(amount, -current) : amount;
        if (current + change < 0)
            throw new InsufficientCreditsException($"The {BucketName(bucket)} balance is {current}; it cannot go below zero.", current);
        if (change == 0)
            return new LedgerResult(false, null, 0, (int)current);

        var entry = ApplyChange(connection, tx, userId, bucket, kind, change, reason, reference, actor, now);
        if (bucket == CreditBucket.Prepaid && kind == "grant")
        {
            LowBalance.RearmIfAbove(connection, tx, userId, current + change);
            AutoTopUps.RearmIfAbove(connection, tx, userId, current + change);
        }
        return new LedgerResult(true, entry, change, (int)(current + change));
    }

    private const string FindAdjustmentSql = """
        SELECT id, user_id AS UserId, bucket, amount, balance_after AS BalanceAfter
        FROM credit_ledger WHERE kind = 'adjustment' AND reference = @reference;
        """;

    /// <summary>
    /// An admin's signed correction of one bucket (a ledger line of kind <c>adjustment</c> with the admin as
    /// <paramref name="actor"/>), inside the caller's write transaction, so the caller records the action (the audit entry) in
    /// the same one. A negative amount takes credits back and never below zero: it throws <see cref="InsufficientCreditsException"/>
    /// and changes nothing. <paramref name="reference"/> makes it idempotent: a second call with the same reference changes
    /// nothing and answers the first line (<see cref="AdjustmentResult.Replayed"/>), or <see cref="AdjustmentResult.Conflict"/>
    /// when that line was for another user, bucket or amount. The caller logs after the commit (<see cref="LogAdjustment"/>).
    /// </summary>
    public AdjustmentResult Adjust(SqliteConnection connection, SqliteTransaction tx, string userId, CreditBucket bucket, int amount, string reason,
        string reference, string actor)
    {
        if (amount == 0)
            throw new ArgumentOutOfRangeException(nameof(amount), "An adjustment moves at least one credit");
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        ArgumentException.ThrowIfNullOrWhiteSpace(reference);
        if (connection.QuerySingleOrDefault<AdjustmentRef>(FindAdjustmentSql, new { reference }, tx) is { } done)
        {
            var same = done.UserId == userId && done.Bucket == BucketName(bucket) && done.Amount == amount;
            return new AdjustmentResult(new LedgerResult(false, done.Id, (int)done.Amount, (int)done.BalanceAfter), Replayed: same, Conflict: !same);
        }
        return new AdjustmentResult(Change(connection, tx, userId, bucket, "adjustment", amount, reason, reference, actor, clampToBalance: false), false, false);
    }

    /// <summary>Logs a committed <see cref="Adjust"/> as every other credit change is logged.</summary>
    public void LogAdjustment(string userId, CreditBucket bucket, int amount, string actor, string reason, string reference) =>
        LogChange("adjustment", amount, bucket, userId, actor, reason, reference);

    private const string ApplyChangeSql = """
        UPDATE credit_balances
        SET trial_balance   = trial_balance   + CASE WHEN @bucket = 'trial'   THEN @amount ELSE 0 END,
            prepaid_balance = prepaid_balance + CASE WHEN @bucket = 'prepaid' THEN @amount ELSE 0 END,
            updated_at = @now
        WHERE user_id = @userId;

        INSERT INTO credit_ledger (user_id, bucket, kind, amount, balance_after, reason, reference, actor, created_at)
        SELECT @userId, @bucket, @kind, @amount, CASE WHEN @bucket = 'trial' THEN trial_balance ELSE prepaid_balance END,
               @reason, @reference, @actor, @now
        FROM credit_balances WHERE user_id = @userId;
        """;

    /// <summary>
    /// Moves a balance and writes its ledger line, inside the caller's write transaction; returns the line's id. The id
    /// is the connection's last inserted row, not a <c>RETURNING</c> clause: SQLite gathers returned rows in a temporary
    /// table, which every reservation would pay for.
    /// </summary>
    private static long ApplyChange(SqliteConnection connection, SqliteTransaction tx, string userId, CreditBucket bucket, string kind, int amount,
        string reason, string? reference, string actor, DateTime now)
    {
        var inserted = connection.Prepared(tx, ApplyChangeSql,
            ("@userId", userId), ("@bucket", BucketName(bucket)), ("@kind", kind), ("@amount", amount), ("@reason", reason),
            ("@reference", reference), ("@actor", actor), ("@now", Db.FormatTime(now))).ExecuteNonQuery();
        // The update and the insert each change one row; anything else means the balance row is missing.
        if (inserted != 2)
            throw new InvalidOperationException($"No balance row for {userId}");
        return SQLitePCL.raw.sqlite3_last_insert_rowid(connection.Handle);
    }

    private const string EnsureAccountSql = """
        INSERT INTO credit_balances (user_id, trial_balance, prepaid_balance, updated_at)
        VALUES (@userId, @trial, 0, @now)
        ON CONFLICT (user_id) DO NOTHING;

        INSERT INTO credit_ledger (user_id, bucket, kind, amount, balance_after, reason, reference, actor, created_at)
        SELECT @userId, 'trial', 'grant', @trial, @trial, 'Free trial credits', 'trial:' || @userId, 'system', @now
        WHERE changes() = 1 AND @trial > 0;
        """;

    /// <summary>Creates the balance row on first use, with the trial credits and their ledger line.</summary>
    private void EnsureAccount(SqliteConnection connection, SqliteTransaction tx, string userId, DateTime now) =>
        connection.Execute(EnsureAccountSql, new { userId, trial = options.Value.TrialCredits, now }, tx);

    /// <summary>Creates the balance row (with trial credits) if the user has none yet, inside the caller's write transaction.</summary>
    public void EnsureAccount(SqliteConnection connection, SqliteTransaction tx, string userId) => EnsureAccount(connection, tx, userId, Now);

    /// <summary>Creates the balance row (with trial credits) if the user has none yet; cheap when it exists.</summary>
    public async Task EnsureAccountAsync(string userId, CancellationToken ct = default)
    {
        await using (var connection = await db.OpenAsync(ct))
        {
            if (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM credit_balances WHERE user_id = @userId", new { userId }) > 0)
                return;
        }
        await db.WriteAsync((connection, tx) =>
        {
            EnsureAccount(connection, tx, userId, Now);
            return true;
        }, ct);
    }

    public async Task<UsageRow?> GetUsageAsync(string usageId, CancellationToken ct = default)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<UsageRow>(
            new CommandDefinition($"SELECT {UsageRow.Columns} FROM usage WHERE id = @usageId", new { usageId }, cancellationToken: ct));
    }

    private static UsageRow ToRow(NewUsage u) =>
        new(u.Id, u.UserId, u.IdempotencyKey, u.RequestHash, "reserved", u.FundingSource, u.Units, u.SubscriptionId, null, null, null, u.Now);

    private sealed record ReleasedUsage(string UserId, FundingSource Source, string PeriodKey, int Units);

    private sealed record LedgerEntryRef(long Id, long Amount, long BalanceAfter);

    private sealed record AdjustmentRef(long Id, string UserId, string Bucket, long Amount, long BalanceAfter);

    private sealed record NewUsage(string Id, string UserId, string IdempotencyKey, string RequestHash, int Units, DateTime Now)
    {
        public string FundingSource { get; init; } = "";
        public string? SubscriptionId { get; init; }
        public DateTime? PeriodStart { get; init; }
        public string PeriodKey { get; init; } = "";
        public long? AmountMinor { get; init; }
    }
}

/// <summary>A change would take a balance below zero; <see cref="Balance"/> is the bucket's balance, which stays as it was.</summary>
public sealed class InsufficientCreditsException(string message, long balance = 0) : Exception(message)
{
    public long Balance { get; } = balance;
}

/// <summary>
/// What <see cref="CreditLedger.Adjust"/> came to: the ledger line (applied now, or the one an earlier call with the same reference
/// wrote: <see cref="Replayed"/>), or <see cref="Conflict"/> when that reference was used for another user, bucket or amount.
/// </summary>
public sealed record AdjustmentResult(LedgerResult Line, bool Replayed, bool Conflict);

/// <summary>Named event ids for money and credit events, so they can be filtered in the logs.</summary>
public static class LogEvents
{
    public static readonly EventId CreditsChanged = new(1001, "CreditsChanged");
    public static readonly EventId UsageReleased = new(1003, "UsageReleased");
    public static readonly EventId UsageCompleted = new(1004, "UsageCompleted");
    public static readonly EventId ReservationSwept = new(1005, "ReservationSwept");
}
