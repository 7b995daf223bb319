using GenSaaS.Web.Data;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Credits;

/// <summary>
/// The low-balance warning: when prepaid credits fall below the customer's threshold, one notice per crossing. The
/// crossing is recorded in the reservation's own write transaction, so generations crossing together warn once; a
/// purchase that brings the balance back to the threshold re-arms it.
/// </summary>
public sealed class LowBalance(Db db, TimeProvider clock)
{
    /// <summary>The largest threshold a customer may set, in credits.</summary>
    public const long MaxThreshold = 1_000_000;

    private const string StateSql = """
        SELECT low_balance_threshold, low_balance_warned_at FROM account_limits WHERE user_id = @userId;
        """;

    private const string LastGrantSql = """
        SELECT amount FROM credit_ledger WHERE user_id = @userId AND bucket = 'prepaid' AND kind = 'grant' ORDER BY id DESC LIMIT 1;
        """;

    /// <summary>What the customer set (null: none), the threshold in force, and whether the balance is below it now (warned, not re-armed).</summary>
    public sealed record State(long? ThresholdSet, long? Threshold, bool Warned);

    /// <summary>The threshold the customer set, else 20 % of the last prepaid grant (a bundle bought), rounded up; null before any.</summary>
    public static State Read(SqliteConnection connection, SqliteTransaction? tx, string userId)
    {
        long? set = null;
        var warned = false;
        using (var r = connection.Prepared(tx, StateSql, ("@userId", userId)).ExecuteReader())
            if (r.Read())
                (set, warned) = (r.IsDBNull(0) ? null : r.GetInt64(0), !r.IsDBNull(1));
        if (set is not null)
            return new State(set, set, warned);
        var lastGrant = connection.Prepared(tx, LastGrantSql, ("@userId", userId)).ExecuteScalar() as long?;
        return new State(null, lastGrant is { } grant ? (grant + 4) / 5 : null, warned);
    }

    private const string WarnSql = """
        INSERT INTO account_limits (user_id, low_balance_warned_at, updated_at) VALUES (@userId, @now, @now)
        ON CONFLICT (user_id) DO UPDATE SET low_balance_warned_at = excluded.low_balance_warned_at WHERE low_balance_warned_at IS NULL;
        """;

    private const string InsertNoticeSql = """
        INSERT INTO low_balance_notices (user_id, threshold, balance, created_at) VALUES (@userId, @threshold, @balance, @now)
        RETURNING id;
        """;

    /// <summary>
    /// After prepaid credits were taken, inside that write transaction: when <paramref name="prepaidAfter"/> is below the
    /// threshold and the warning is armed, disarms it and records a notice, whose id is returned (the caller sends the email).
    /// </summary>
    public static long? WarnOnCrossing(SqliteConnection connection, SqliteTransaction tx, string userId, long prepaidAfter, DateTime now)
    {
        var state = Read(connection, tx, userId);
        if (state.Warned || state.Threshold is not { } threshold || prepaidAfter >= threshold)
            return null;
        var at = Db.FormatTime(now);
        if (connection.Prepared(tx, WarnSql, ("@userId", userId), ("@now", at)).ExecuteNonQuery() != 1)
            return null;
        return (long)connection.Prepared(tx, InsertNoticeSql, ("@userId", userId), ("@threshold", threshold), ("@balance", prepaidAfter), ("@now", at)).ExecuteScalar()!;
    }

    private const string RearmSql = """
        UPDATE account_limits SET low_balance_warned_at = NULL WHERE user_id = @userId AND low_balance_warned_at IS NOT NULL;
        """;

    /// <summary>After prepaid credits were added, inside that write transaction: re-arms the warning once the balance is back at the threshold.</summary>
    public static void RearmIfAbove(SqliteConnection connection, SqliteTransaction tx, string userId, long prepaidAfter)
    {
        var state = Read(connection, tx, userId);
        if (state.Warned && (state.Threshold is not { } threshold || prepaidAfter >= threshold))
            connection.Prepared(tx, RearmSql, ("@userId", userId)).ExecuteNonQuery();
    }

    public Task<State> ReadAsync(string userId, CancellationToken ct = default) =>
        db.ReadAsync(connection => Read(connection, null, userId), ct);

    private const string SetSql = """
        INSERT INTO account_limits (user_id, low_balance_threshold, updated_at) VALUES (@userId, @threshold, @now)
        ON CONFLICT (user_id) DO UPDATE SET low_balance_threshold = excluded.low_balance_threshold, updated_at = excluded.updated_at;
        """;

    /// <summary>Sets the threshold in credits, or with null goes back to the default. The caller has validated it.</summary>
    public Task SetAsync(string userId, long? threshold, CancellationToken ct = default)
    {
        if (threshold is < 1 or > MaxThreshold)
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "A low-balance threshold is between 1 and MaxThreshold credits");
        return db.ExecuteAsync(SetSql, new { userId, threshold, now = Db.FormatTime(clock.GetUtcNow().UtcDateTime) }, ct);
    }
}
