using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Features.Accounts;

public sealed record ApiKeyRecord(string Id, string Name, string Prefix, string Scopes, DateTime CreatedAt, DateTime? LastUsedAt, DateTime? RevokedAt);

/// <summary>The owner of a live key, as the authentication handler needs it; <see cref="Locked"/> when an admin locked the account.</summary>
public sealed record ApiKeyOwner(string KeyId, string UserId, string? UserName, string? Email, string Roles, string Scopes, DateTime? LastUsedAt,
    bool Locked = false);

/// <summary>Personal API keys: <c>gsk_</c> + 43 random characters, stored as a SHA-256 hash and a visible prefix.</summary>
public sealed class ApiKeyStore(Db db, TimeProvider clock)
{
    public const string KeyPrefix = "gsk_";

    /// <summary>Characters of the key kept in clear so its owner can tell keys apart.</summary>
    private const int VisibleLength = 12;

    /// <summary>A key's last-used time is written at most this often, so a busy key costs one read per request, not a write.</summary>
    public static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    /// <summary>Live (unrevoked) keys one user may hold at once.</summary>
    public const int MaxActiveKeysPerUser = 25;

    // One statement counts and inserts, so parallel creations cannot pass the cap between a count and an insert.
    private const string InsertSql = """
        INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, created_at)
        SELECT @id, @userId, @name, @prefix, @hash, @scopes, @now
        WHERE (SELECT count(*) FROM api_keys WHERE user_id = @userId AND revoked_at IS NULL) < @max;
        """;

    /// <summary>
    /// Creates a key with these scopes and returns it in full: the only time it is ever available. Null when the user
    /// already holds <see cref="MaxActiveKeysPerUser"/> live keys. Whether the user may hold the scopes is the caller's check.
    /// </summary>
    public async Task<(ApiKeyRecord Record, string Key)?> CreateAsync(string userId, string name, IEnumerable<string> scopes, CancellationToken ct)
    {
        var key = KeyPrefix + Secrets.NewToken();
        var record = new ApiKeyRecord(Guid.NewGuid().ToString("N"), name.Trim(), key[..VisibleLength], ApiKeyScopes.Format(scopes),
            clock.GetUtcNow().UtcDateTime, null, null);
        var inserted = await db.ExecuteAsync(InsertSql, new
        {
            id = record.Id, userId, name = record.Name, prefix = record.Prefix, hash = Secrets.Hash(key), scopes = record.Scopes,
            now = record.CreatedAt, max = MaxActiveKeysPerUser,
        }, ct);
        return inserted == 1 ? (record, key) : null;
    }

    private const string ListSql = """
        SELECT id AS Id, name AS Name, prefix AS Prefix, scopes AS Scopes, created_at AS CreatedAt, last_used_at AS LastUsedAt, revoked_at AS RevokedAt
        FROM api_keys WHERE user_id = @userId
        ORDER BY created_at DESC;
        """;

    public async Task<IReadOnlyList<ApiKeyRecord>> ListAsync(string userId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<ApiKeyRecord>(new CommandDefinition(ListSql, new { userId }, cancellationToken: ct))).ToList();
    }

    private const string RevokeSql = """
        UPDATE api_keys SET revoked_at = @now WHERE id = @id AND user_id = @userId AND revoked_at IS NULL;
        """;

    private const string RevokeAllSql = """
        UPDATE api_keys SET revoked_at = @now WHERE user_id = @userId AND revoked_at IS NULL;
        """;

    /// <summary>Revokes every live key of the user; returns how many.</summary>
    public Task<int> RevokeAllAsync(string userId, CancellationToken ct) =>
        db.ExecuteAsync(RevokeAllSql, new { userId, now = clock.GetUtcNow().UtcDateTime }, ct);

    /// <summary>Revokes one of the user's own keys; false when there is no such live key of theirs.</summary>
    public async Task<bool> RevokeAsync(string userId, string id, CancellationToken ct)
    {
        return await db.ExecuteAsync(RevokeSql, new { id, userId, now = clock.GetUtcNow().UtcDateTime }, ct) == 1;
    }

    // One indexed lookup (the unique index on key_hash) brings the key, its user and the user's roles.
    private const string FindOwnerSql = """
        SELECT k.id AS KeyId, u.Id AS UserId, u.UserName, u.Email,
               coalesce((SELECT group_concat(r.Name, ',') FROM AspNetUserRoles ur JOIN AspNetRoles r ON r.Id = ur.RoleId WHERE ur.UserId = u.Id), '') AS Roles,
               k.scopes AS Scopes, k.last_used_at AS LastUsedAt, coalesce(u.LockoutEnd >= '9999', 0) AS Locked
        FROM api_keys k JOIN AspNetUsers u ON u.Id = k.user_id
        WHERE k.key_hash = @hash AND k.revoked_at IS NULL;
        """;

    private const string TouchSql = """
        UPDATE api_keys SET last_used_at = @now WHERE id = @id;
        """;

    /// <summary>The owner of a live key, or null; notes the use at most once per <see cref="LastUsedResolution"/>.</summary>
    public async Task<ApiKeyOwner?> FindOwnerAsync(string key, CancellationToken ct)
    {
        if (!key.StartsWith(KeyPrefix, StringComparison.Ordinal) || key.Length > 200)
            return null;
        var now = clock.GetUtcNow().UtcDateTime;
        var hash = Secrets.Hash(key);
        var owner = await db.ReadAsync(connection =>
        {
            using var r = connection.Prepared(null, FindOwnerSql, ("@hash", hash)).ExecuteReader();
            return r.Read()
                ? new ApiKeyOwner(r.GetString(0), r.GetString(1), r.GetNullableString(2), r.GetNullableString(3), r.GetString(4),
                    r.GetString(5), r.IsDBNull(6) ? null : r.GetUtcDateTime(6), r.GetInt64(7) != 0)
                : null;
        }, ct);
        if (owner is not null && !owner.Locked && (owner.LastUsedAt is not { } last || now - last >= LastUsedResolution))
            await db.ExecuteAsync(TouchSql, new { id = owner.KeyId, now }, ct);
        return owner;
    }
}
