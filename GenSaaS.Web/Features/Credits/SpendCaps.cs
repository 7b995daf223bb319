using GenSaaS.Web.Data;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Credits;

/// <summary>
/// The customer's monthly cap on pay-per-use spend (minor units of the pay-per-use plan's currency). The ledger reads it
/// and the month's spend inside the reservation's write transaction, so generations reserved together cannot pass it.
/// </summary>
public sealed class SpendCaps(Db db, TimeProvider clock)
{
    /// <summary>The largest cap a customer may set, in minor units (100,000 in the major unit).</summary>
    public const long MaxCapMinor = 10_000_000;

    private const string ReadSql = """
        SELECT spend_cap_minor FROM account_limits WHERE user_id = @userId;
        """;

    /// <summary>The cap, or null when the customer has set none.</summary>
    public static long? Read(SqliteConnection connection, SqliteTransaction? tx, string userId) =>
        connection.Prepared(tx, ReadSql, ("@userId", userId)).ExecuteScalar() is long cap ? cap : null;

    private const string SpentSinceSql = """
        SELECT coalesce(sum(amount_minor), 0) FROM usage
        WHERE user_id = @userId AND funding_source = 'pay_per_use' AND state IN ('reserved', 'succeeded') AND created_at >= @since;
        """;

    /// <summary>
    /// Pay-per-use spend since <paramref name="since"/>: every reserved (held or about to be) and succeeded (captured or
    /// about to be) generation at the price fixed when it was reserved; a released one gave its amount back.
    /// </summary>
    public static long SpentSince(SqliteConnection connection, SqliteTransaction? tx, string userId, DateTime since) =>
        connection.Prepared(tx, SpentSinceSql, ("@userId", userId), ("@since", Db.FormatTime(since))).ExecuteScalar() is long spent ? spent : 0;

    /// <summary>The cap and this calendar month's (UTC) spend, for the billing page and <c>/api/v1/me</c>.</summary>
    public Task<(long? CapMinor, long SpentMinor, DateTime ResetsAt)> ReadAsync(string userId, CancellationToken ct = default)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var monthStart = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        return db.ReadAsync(connection => (Read(connection, null, userId), SpentSince(connection, null, userId, monthStart), monthStart.AddMonths(1)), ct);
    }

    private const string SetSql = """
        INSERT INTO account_limits (user_id, spend_cap_minor, updated_at) VALUES (@userId, @capMinor, @now)
        ON CONFLICT (user_id) DO UPDATE SET spend_cap_minor = excluded.spend_cap_minor, updated_at = excluded.updated_at;
        """;

    /// <summary>Sets the cap, or clears it with null. The caller has validated it (1 to <see cref="MaxCapMinor"/>).</summary>
    public Task SetAsync(string userId, long? capMinor, CancellationToken ct = default)
    {
        if (capMinor is < 1 or > MaxCapMinor)
            throw new ArgumentOutOfRangeException(nameof(capMinor), capMinor, "A spend cap is between 1 and MaxCapMinor minor units");
        return db.ExecuteAsync(SetSql, new { userId, capMinor, now = Db.FormatTime(clock.GetUtcNow().UtcDateTime) }, ct);
    }
}
