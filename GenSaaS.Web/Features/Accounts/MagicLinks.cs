using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>One-time sign-in links: valid ten minutes, used once, stored only as a hash.</summary>
public sealed class MagicLinks(Db db, TimeProvider clock)
{
    /// <summary>OWASP ASVS 5.0 6.5.5: out-of-band codes live at most ten minutes.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    // Spent and expired links are useless; the user's own old rows go whenever they ask for a new one.
    private const string InsertSql = """
        DELETE FROM magic_links WHERE user_id = @userId AND expires_at < @now;
        INSERT INTO magic_links (token_hash, user_id, created_at, expires_at) VALUES (@hash, @userId, @now, @expires);
        """;

    /// <summary>
    /// Returns the token to put in the link. How often an address may ask is limited by <see cref="AccountThrottle"/>
    /// (<c>Accounts:Throttle:PerAddress</c> per <c>WindowMinutes</c>), as for every account form.
    /// </summary>
    public async Task<string> CreateAsync(string userId, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var token = Secrets.NewToken();
        await db.ExecuteAsync(InsertSql, new { hash = Secrets.Hash(token), userId, now, expires = now + Lifetime }, ct);
        return token;
    }

    private const string IsUsableSql = """
        SELECT count(*) FROM magic_links WHERE token_hash = @hash AND used_at IS NULL AND expires_at > @now;
        """;

    /// <summary>Whether the link would still sign in, without using it up.</summary>
    public async Task<bool> IsUsableAsync(string? token, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(token))
            return false;
        await using var connection = await db.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(IsUsableSql, new { hash = Secrets.Hash(token), now = clock.GetUtcNow().UtcDateTime }, cancellationToken: ct)) > 0;
    }

    // One statement both checks and spends the link, so two clicks racing cannot both sign in.
    private const string ConsumeSql = """
        UPDATE magic_links SET used_at = @now
        WHERE token_hash = @hash AND used_at IS NULL AND expires_at > @now
        RETURNING user_id;
        """;

    /// <summary>Spends the link and returns its user's id, or null when it is unknown, expired or already used.</summary>
    public async Task<string?> ConsumeAsync(string? token, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(token))
            return null;
        var args = new { hash = Secrets.Hash(token), now = clock.GetUtcNow().UtcDateTime };
        return await db.WriteAsync((connection, tx) => connection.QuerySingleOrDefault<string>(ConsumeSql, args, tx), ct);
    }
}
