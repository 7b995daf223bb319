using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Plans;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Credits;

/// <summary>
/// Auto top-up: when prepaid credits fall below the customer's threshold, one <c>auto_top_ups</c> row (pending) is recorded
/// in the reservation's own write transaction, so generations crossing together record one; the billing feature charges it
/// off session and grants the bundle's credits. Nothing is recorded while one is pending, after one failed (until re-armed),
/// without a saved card, when the bundle would take this month's auto top-up charges above the customer's cap, or while the
/// operator's feature flags (<c>billing</c>, <c>auto_top_up</c>) turn auto top-up off for the customer: then the settings
/// are left as they are (still armed), so the first crossing after the flag is back on tops up, once.
/// </summary>
public sealed class AutoTopUps(Db db, PlanCatalog plans, TimeProvider clock)
{
    /// <summary>Declined top-ups in a row that turn auto top-up off.</summary>
    public const int FailuresBeforeTurnedOff = 3;

    /// <summary>The largest threshold a customer may set, in credits.</summary>
    public const long MaxThreshold = 1_000_000;

    /// <summary>The largest monthly cap a customer may set, in minor units (100,000 in the major unit).</summary>
    public const long MaxCapMinor = 10_000_000;

    /// <summary>What <c>disabled_reason</c> says when three declined top-ups in a row turned it off.</summary>
    public const string TurnedOffAfterFailures = "failures";

    /// <summary>The customer's settings as stored.</summary>
    public sealed record Settings(bool Enabled, long Threshold, string PlanKey, long MonthlyCapMinor, string Currency, bool Armed, int FailuresInARow,
        string? DisabledReason);

    /// <summary>One <c>auto_top_ups</c> row.</summary>
    public sealed record TopUp(long Id, string UserId, string Status, string PlanKey, int Credits, long AmountMinor, string Currency, long Threshold,
        long Balance, string? PaymentIntentId, long Attempts, string? ErrorCode, string? Error, bool TurnedOff, long? LedgerEntryId, DateTime CreatedAt,
        DateTime? SettledAt);

    private const string SettingsSql = """
        SELECT enabled, threshold, plan_key, monthly_cap_minor, currency, armed, failures_in_a_row, disabled_reason
        FROM auto_top_up_settings WHERE user_id = @userId;
        """;

    public static Settings? ReadSettings(SqliteConnection connection, SqliteTransaction? tx, string userId)
    {
        using var r = connection.Prepared(tx, SettingsSql, ("@userId", userId)).ExecuteReader();
        return r.Read()
            ? new Settings(r.GetInt64(0) == 1, r.GetInt64(1), r.GetString(2), r.GetInt64(3), r.GetString(4), r.GetInt64(5) == 1, (int)r.GetInt64(6), r.GetNullableString(7))
            : null;
    }

    private const string ChargedSinceSql = """
        SELECT coalesce(sum(amount_minor), 0) FROM auto_top_ups
        WHERE user_id = @userId AND currency = @currency AND status IN ('pending', 'succeeded') AND created_at >= @since;
        """;

    /// <summary>What auto top-up charged (or is charging) in <paramref name="currency"/> since <paramref name="since"/>; a failed or canceled one charged nothing.</summary>
    public static long ChargedSince(SqliteConnection connection, SqliteTransaction? tx, string userId, string currency, DateTime since) =>
        connection.Prepared(tx, ChargedSinceSql, ("@userId", userId), ("@currency", currency), ("@since", Db.FormatTime(since))).ExecuteScalar() is long charged ? charged : 0;

    private const string PendingSql = """
        SELECT id FROM auto_top_ups WHERE user_id = @userId AND status = 'pending';
        """;

    /// <summary>The customer's pending top-up, if any.</summary>
    public static long? PendingId(SqliteConnection connection, SqliteTransaction? tx, string userId) =>
        connection.Prepared(tx, PendingSql, ("@userId", userId)).ExecuteScalar() as long?;

    public static DateTime MonthStart(DateTime now) => new(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);

    private const string RecordSql = """
        INSERT INTO auto_top_ups (user_id, status, plan_key, credits, amount_minor, currency, threshold, balance, created_at, updated_at)
        VALUES (@userId, 'pending', @planKey, @credits, @amountMinor, @currency, @threshold, @balance, @now, @now)
        RETURNING id;
        """;

    private const string DisarmSql = """
        UPDATE auto_top_up_settings SET armed = 0 WHERE user_id = @userId;
        """;

    /// <summary>
    /// Inside the reservation's write transaction, with the prepaid balance as it stands after it (<paramref name="prepaid"/>):
    /// records a pending top-up when the flags allow it (<paramref name="flagsOn"/>, read by the caller before the transaction),
    /// auto top-up is on and armed, a card is saved, the balance is below the threshold, none is pending and the bundle fits
    /// under this month's cap; disarms it and returns the row's id (the caller starts the charge). Over the cap, or with the
    /// flags off, it stays armed, so the first crossing of the next month, or after the flag is back on, tops up.
    /// </summary>
    public static long? RecordIfDue(SqliteConnection connection, SqliteTransaction tx, PlanCatalog plans, string userId, long prepaid, bool hasSavedCard, DateTime now,
        bool flagsOn)
    {
        if (!flagsOn)
            return null;
        if (ReadSettings(connection, tx, userId) is not { Enabled: true, Armed: true } settings)
            return null;
        if (prepaid >= settings.Threshold || !hasSavedCard)
            return null;
        if (PendingId(connection, tx, userId) is not null)
            return null;
        if (plans.Find(settings.PlanKey) is not { Kind: PlanKind.Bundle } bundle || bundle.Currency != settings.Currency)
            return null;
        if (ChargedSince(connection, tx, userId, settings.Currency, MonthStart(now)) + bundle.PriceMinor > settings.MonthlyCapMinor)
            return null;
        var id = (long)connection.Prepared(tx, RecordSql, ("@userId", userId), ("@planKey", settings.PlanKey), ("@credits", bundle.Credits),
            ("@amountMinor", bundle.PriceMinor), ("@currency", bundle.Currency), ("@threshold", settings.Threshold), ("@balance", prepaid),
            ("@now", Db.FormatTime(now))).ExecuteScalar()!;
        connection.Prepared(tx, DisarmSql, ("@userId", userId)).ExecuteNonQuery();
        return id;
    }

    private const string RearmSql = """
        UPDATE auto_top_up_settings SET armed = 1 WHERE user_id = @userId AND armed = 0 AND @prepaid >= threshold
          AND NOT EXISTS (SELECT 1 FROM auto_top_ups WHERE user_id = @userId AND status = 'pending');
        """;

    /// <summary>After prepaid credits were granted, inside that write transaction: re-arms once the balance is back at the threshold.</summary>
    public static void RearmIfAbove(SqliteConnection connection, SqliteTransaction tx, string userId, long prepaidAfter) =>
        connection.Prepared(tx, RearmSql, ("@userId", userId), ("@prepaid", prepaidAfter)).ExecuteNonQuery();

    private const string TopUpSql = """
        SELECT id, user_id, status, plan_key, credits, amount_minor, currency, threshold, balance, payment_intent_id, attempts,
               error_code, error, turned_off, ledger_entry_id, created_at, settled_at
        FROM auto_top_ups WHERE id = @id;
        """;

    public static TopUp? Read(SqliteConnection connection, SqliteTransaction? tx, long id)
    {
        using var r = connection.Prepared(tx, TopUpSql, ("@id", id)).ExecuteReader();
        return r.Read()
            ? new TopUp(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), (int)r.GetInt64(4), r.GetInt64(5), r.GetString(6), r.GetInt64(7),
                r.GetInt64(8), r.GetNullableString(9), r.GetInt64(10), r.GetNullableString(11), r.GetNullableString(12), r.GetInt64(13) == 1,
                r.GetNullableInt64(14), r.GetUtcDateTime(15), r.IsDBNull(16) ? null : r.GetUtcDateTime(16))
            : null;
    }

    public Task<TopUp?> GetAsync(long id, CancellationToken ct = default) => db.ReadAsync(connection => Read(connection, null, id), ct);

    private const string SucceedSql = """
        UPDATE auto_top_ups
        SET status = 'succeeded', payment_intent_id = coalesce(payment_intent_id, @paymentIntentId), ledger_entry_id = @entryId,
            error_code = NULL, error = NULL, settled_at = @now, updated_at = @now
        WHERE id = @id AND status <> 'succeeded'
        RETURNING user_id;
        """;

    private const string RearmAfterSuccessSql = """
        UPDATE auto_top_up_settings SET armed = 1, failures_in_a_row = 0 WHERE user_id = @userId;
        """;

    /// <summary>
    /// Inside the grant's write transaction: the top-up succeeded (from any state: Stripe took the money, so the credits are
    /// owed even after our side gave up on it). Re-arms auto top-up, so a balance still below the threshold tops up again.
    /// </summary>
    public static bool Succeed(SqliteConnection connection, SqliteTransaction tx, long id, string paymentIntentId, long? entryId, DateTime now)
    {
        if (connection.Prepared(tx, SucceedSql, ("@id", id), ("@paymentIntentId", paymentIntentId), ("@entryId", entryId), ("@now", Db.FormatTime(now)))
                .ExecuteScalar() is not string userId)
            return false;
        connection.Prepared(tx, RearmAfterSuccessSql, ("@userId", userId)).ExecuteNonQuery();
        return true;
    }

    private const string FailSql = """
        UPDATE auto_top_ups
        SET status = 'failed', payment_intent_id = coalesce(payment_intent_id, @paymentIntentId), error_code = @code, error = @message,
            settled_at = @now, updated_at = @now
        WHERE id = @id AND status = 'pending'
        RETURNING user_id;
        """;

    private const string CountFailureSql = """
        UPDATE auto_top_up_settings
        SET failures_in_a_row = failures_in_a_row + 1,
            enabled = CASE WHEN @turnOff = 1 THEN 0 ELSE enabled END,
            disabled_reason = CASE WHEN @turnOff = 1 THEN @reason ELSE disabled_reason END
        WHERE user_id = @userId;
        """;

    private const string MarkTurnedOffSql = """
        UPDATE auto_top_ups SET turned_off = 1 WHERE id = @id;
        """;

    /// <summary>How marking a top-up failed went: whether this call did it (only a pending one fails, once), and whether it turned auto top-up off.</summary>
    public sealed record FailResult(bool Failed, bool TurnedOff);

    /// <summary>
    /// A pending top-up was declined (or could not be charged): failed with Stripe's code and message, counted as one more
    /// failure in a row; the one that makes <see cref="FailuresBeforeTurnedOff"/> turns auto top-up off. It stays disarmed:
    /// the same crossing is not charged again.
    /// </summary>
    public Task<FailResult> FailAsync(long id, string? paymentIntentId, string code, string message, CancellationToken ct = default) =>
        db.WriteAsync((connection, tx) =>
        {
            string? userId;
            using (var r = connection.Prepared(tx, FailSql, ("@id", id), ("@paymentIntentId", paymentIntentId), ("@code", code), ("@message", message),
                       ("@now", Db.FormatTime(clock.GetUtcNow().UtcDateTime))).ExecuteReader())
                userId = r.Read() ? r.GetString(0) : null;
            if (userId is null || ReadSettings(connection, tx, userId) is not { } settings)
                return new FailResult(userId is not null, false);
            var turnOff = settings.Enabled && settings.FailuresInARow + 1 >= FailuresBeforeTurnedOff;
            connection.Prepared(tx, CountFailureSql, ("@userId", userId), ("@turnOff", turnOff ? 1 : 0), ("@reason", TurnedOffAfterFailures)).ExecuteNonQuery();
            if (turnOff)
                connection.Prepared(tx, MarkTurnedOffSql, ("@id", id)).ExecuteNonQuery();
            return new FailResult(true, turnOff);
        }, ct);

    private const string CancelSql = """
        UPDATE auto_top_ups SET status = 'canceled', error_code = @code, error = @message, settled_at = @now, updated_at = @now
        WHERE id = @id AND status = 'pending';
        """;

    /// <summary>A pending top-up that will not be charged (auto top-up was turned off first); not a failure of the card.</summary>
    public async Task<bool> CancelAsync(long id, string code, string message, CancellationToken ct = default) =>
        await db.ExecuteAsync(CancelSql, new { id, code, message, now = Db.FormatTime(clock.GetUtcNow().UtcDateTime) }, ct) == 1;

    private const string SkipSql = """
        UPDATE auto_top_ups SET status = 'canceled', error_code = @code, error = @message, settled_at = @now, updated_at = @now
        WHERE id = @id AND status = 'pending'
        RETURNING user_id;
        """;

    private const string RearmAfterSkipSql = """
        UPDATE auto_top_up_settings SET armed = 1 WHERE user_id = @userId;
        """;

    /// <summary>
    /// A pending top-up the operator's feature flags stopped before its charge: canceled with <paramref name="code"/> (nothing
    /// charged, not a failure of the card) and auto top-up re-armed in the same transaction, its settings otherwise untouched,
    /// so the first crossing after the flag is back on tops up, once. False when it was no longer pending.
    /// </summary>
    public Task<bool> SkipAsync(long id, string code, string message, CancellationToken ct = default) =>
        db.WriteAsync((connection, tx) =>
        {
            string? userId;
            using (var r = connection.Prepared(tx, SkipSql, ("@id", id), ("@code", code), ("@message", message),
                       ("@now", Db.FormatTime(clock.GetUtcNow().UtcDateTime))).ExecuteReader())
                userId = r.Read() ? r.GetString(0) : null;
            if (userId is null)
                return false;
            connection.Prepared(tx, RearmAfterSkipSql, ("@userId", userId)).ExecuteNonQuery();
            return true;
        }, ct);

    private const string RearmForNewCardSql = """
        UPDATE auto_top_up_settings SET armed = 1, failures_in_a_row = 0
        WHERE user_id = @userId AND enabled = 1 AND (armed = 0 OR failures_in_a_row > 0)
          AND NOT EXISTS (SELECT 1 FROM auto_top_ups WHERE user_id = @userId AND status = 'pending');
        """;

    /// <summary>
    /// The customer's saved card changed to a new one (fixed in the billing portal, or saved again): auto top-up that a failed
    /// charge left disarmed is re-armed and the failures in a row start again, so the next generation below the threshold
    /// tries the new card. One the failures turned off stays off (the customer turns it on again); a pending one is left to
    /// finish. True when it changed something.
    /// </summary>
    public async Task<bool> RearmForNewCardAsync(string userId, CancellationToken ct = default) =>
        await db.ExecuteAsync(RearmForNewCardSql, new { userId }, ct) == 1;

    private const string AttemptSql = """
        UPDATE auto_top_ups SET attempts = attempts + 1, updated_at = @now WHERE id = @id AND status = 'pending';
        """;

    /// <summary>Counts one charge attempt of a pending top-up.</summary>
    public Task AttemptAsync(long id, CancellationToken ct = default) =>
        db.ExecuteAsync(AttemptSql, new { id, now = Db.FormatTime(clock.GetUtcNow().UtcDateTime) }, ct);

    private const string NoteErrorSql = """
        UPDATE auto_top_ups SET error = @error, updated_at = @now WHERE id = @id AND status = 'pending';
        """;

    /// <summary>Records why the last attempt of a pending top-up got no answer from Stripe.</summary>
    public Task NoteErrorAsync(long id, string error, CancellationToken ct = default) =>
        db.ExecuteAsync(NoteErrorSql, new { id, error, now = Db.FormatTime(clock.GetUtcNow().UtcDateTime) }, ct);

    private const string StalePendingSql = """
        SELECT id FROM auto_top_ups WHERE status = 'pending' AND updated_at < @before ORDER BY created_at LIMIT 100;
        """;

    /// <summary>Pending top-ups nobody touched since <paramref name="before"/>: the charge never started, or its answer was lost.</summary>
    public Task<List<long>> StalePendingAsync(DateTime before, CancellationToken ct = default) =>
        db.ReadAsync(connection =>
        {
            var ids = new List<long>();
            using var r = connection.Prepared(null, StalePendingSql, ("@before", Db.FormatTime(before))).ExecuteReader();
            while (r.Read())
                ids.Add(r.GetInt64(0));
            return ids;
        }, ct);

    /// <summary>What the billing page and <c>GET /api/v1/billing</c> show.</summary>
    public sealed record View(Settings? Settings, long ChargedThisMonthMinor, string Currency, DateTime ResetsAt, bool Pending, TopUp? Last)
    {
        public bool Enabled => Settings?.Enabled == true;

        /// <summary>The most auto top-up can still charge this month: the bundles that fit under the cap, at the bundle's price.</summary>
        public long MaxMoreThisMonthMinor(long bundlePriceMinor) =>
            Settings is { } s && bundlePriceMinor > 0 ? Math.Max(0, s.MonthlyCapMinor - ChargedThisMonthMinor) / bundlePriceMinor * bundlePriceMinor : 0;
    }

    private const string LastSql = """
        SELECT id FROM auto_top_ups WHERE user_id = @userId ORDER BY id DESC LIMIT 1;
        """;

    public Task<View> ReadAsync(string userId, CancellationToken ct = default)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        return db.ReadAsync(connection =>
        {
            var settings = ReadSettings(connection, null, userId);
            var currency = settings?.Currency ?? DefaultBundle(plans)?.Value.Currency ?? "usd";
            var charged = ChargedSince(connection, null, userId, currency, MonthStart(now));
            var last = connection.Prepared(null, LastSql, ("@userId", userId)).ExecuteScalar() is long id ? Read(connection, null, id) : null;
            return new View(settings, charged, currency, MonthStart(now).AddMonths(1), PendingId(connection, null, userId) is not null, last);
        }, ct);
    }

    /// <summary>The bundles a customer may choose, cheapest first.</summary>
    public static IReadOnlyList<KeyValuePair<string, PlanOptions>> Bundles(PlanCatalog plans) =>
        plans.Plans.Where(p => p.Value.Kind == PlanKind.Bundle).OrderBy(p => p.Value.PriceMinor).ThenBy(p => p.Key, StringComparer.Ordinal).ToList();

    public static KeyValuePair<string, PlanOptions>? DefaultBundle(PlanCatalog plans) => Bundles(plans) is [var first, ..] ? first : null;

    private const string SaveSql = """
        INSERT INTO auto_top_up_settings (user_id, enabled, threshold, plan_key, monthly_cap_minor, currency, armed, failures_in_a_row, disabled_reason, updated_at)
        VALUES (@userId, @enabled, @threshold, @planKey, @capMinor, @currency, 1, 0, NULL, @now)
        ON CONFLICT (user_id) DO UPDATE SET
            failures_in_a_row = CASE WHEN excluded.enabled = 1 AND auto_top_up_settings.enabled = 0 THEN 0 ELSE auto_top_up_settings.failures_in_a_row END,
            disabled_reason = CASE WHEN excluded.enabled = 1 THEN NULL ELSE auto_top_up_settings.disabled_reason END,
            enabled = excluded.enabled, threshold = excluded.threshold, plan_key = excluded.plan_key,
            monthly_cap_minor = excluded.monthly_cap_minor, currency = excluded.currency, armed = 1, updated_at = excluded.updated_at;
        """;

    /// <summary>
    /// Saves the settings (validated by the caller). Saving re-arms auto top-up, so a customer who fixed their card after a
    /// failure is topped up at the next generation below the threshold; turning it on again starts the failure count afresh.
    /// </summary>
    public Task SaveAsync(string userId, bool enabled, long threshold, string planKey, long capMinor, CancellationToken ct = default)
    {
        var bundle = plans.Find(planKey) is { Kind: PlanKind.Bundle } found ? found : throw new ArgumentException($"'{planKey}' is not a bundle", nameof(planKey));
        ArgumentOutOfRangeException.ThrowIfLessThan(threshold, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(threshold, MaxThreshold);
        ArgumentOutOfRangeException.ThrowIfLessThan(capMinor, bundle.PriceMinor);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capMinor, MaxCapMinor);
        return db.ExecuteAsync(SaveSql, new
        {
            userId, enabled = enabled ? 1 : 0, threshold, planKey, capMinor, currency = bundle.Currency, now = Db.FormatTime(clock.GetUtcNow().UtcDateTime),
        }, ct);
    }

    /// <summary>
    /// Checks settings as the customer sent them: the threshold (1 to <see cref="MaxThreshold"/> credits), a bundle of the
    /// catalogue, and a monthly cap from one bundle's price to <see cref="MaxCapMinor"/>. Null when valid, else the field and why.
    /// </summary>
    public static (string Field, string Message)? Validate(PlanCatalog plans, long threshold, string planKey, long capMinor, Func<long, string, string> money)
    {
        if (threshold < 1)
            return ("threshold", "The threshold must be at least 1 credit.");
        if (threshold > MaxThreshold)
            return ("threshold", $"The threshold can be at most {MaxThreshold} credits.");
        if (plans.Find(planKey) is not { Kind: PlanKind.Bundle } bundle)
            return ("bundle", $"'{planKey}' is not a bundle; choose one of {string.Join(", ", Bundles(plans).Select(b => b.Key))}.");
        if (capMinor < bundle.PriceMinor)
            return ("monthlyCapMinor", $"The monthly cap must be at least the bundle's price ({money(bundle.PriceMinor, bundle.Currency)}), or auto top-up could never buy it.");
        if (capMinor > MaxCapMinor)
            return ("monthlyCapMinor", $"The monthly cap can be at most {money(MaxCapMinor, bundle.Currency)}.");
        return null;
    }
}
