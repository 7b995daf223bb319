using System.Globalization;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Accounts;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// Who did something: an admin's user id (through a page, <c>admin</c>, or an API key, <c>api_key</c>), or the operator's OS
/// user for a command (<c>cli:alice</c>, <c>cli</c>).
/// </summary>
public sealed record AuditActor(string Id, string Kind)
{
    public const string AdminKind = "admin";
    public const string ApiKeyKind = "api_key";
    public const string CliKind = "cli";

    public static AuditActor From(ClaimsPrincipal user) =>
        new(user.FindFirstValue(ClaimTypes.NameIdentifier) ?? throw new InvalidOperationException("Signed-in user without an id"),
            ApiKeyScopes.IsApiKey(user) ? ApiKeyKind : AdminKind);

    /// <summary>The operator running a command on the server: <c>cli:</c> and the OS user name.</summary>
    public static AuditActor Cli() => new($"cli:{Environment.UserName}", CliKind);
}

/// <summary>One line of the audit log, as stored; <see cref="Before"/> and <see cref="After"/> are JSON text.</summary>
public sealed record AuditEntry(long Id, DateTime At, string Actor, string ActorKind, string Action, string? Target, string? Reason, string? Before, string? After)
{
    public string PublicId => AuditLog.IdPrefix + Id.ToString(CultureInfo.InvariantCulture);
}

/// <summary>What <c>/admin/audit</c>, its CSV and <c>GET /api/v1/admin/audit</c> filter on; null is "any". Dates are UTC days, both included.</summary>
public sealed record AuditFilter(string? Actor = null, string? Action = null, string? Target = null, DateOnly? From = null, DateOnly? To = null)
{
    public static AuditFilter Any { get; } = new();
}

/// <summary>The action names written to the audit log, so filters and tests name them the same way.</summary>
public static class AuditActions
{
    public const string CreditsAdjust = "credits.adjust";
    public const string PaymentRefund = "payment.refund";
    public const string SubscriptionCancel = "subscription.cancel";
    public const string SubscriptionResume = "subscription.resume";
    public const string AuditExport = "audit.export";
    public const string ApiRead = "api.read";
    public const string HoldCapture = "hold.capture";
    public const string HoldRelease = "hold.release";
    public const string UserConfirmEmail = "user.confirm_email";
    public const string UserLock = "user.lock";
    public const string UserUnlock = "user.unlock";
    public const string UserPromote = "user.promote";
    public const string UserDemote = "user.demote";
    public const string ApiKeyRevoke = "api_key.revoke";
    public const string ApiKeyRevokeAll = "api_key.revoke_all";
    /// <summary>An admin looked at a customer's dashboard through "view as customer" (a read, with its reason).</summary>
    public const string CustomerViewAs = "customer.view_as";
}

/// <summary>
/// The append-only audit log (<c>audit_log</c>; triggers refuse UPDATE and DELETE). An action is recorded with
/// <see cref="Append"/> inside the write transaction that makes the change, so there is never a change without its entry
/// or an entry without its change. Reads page by id, newest first, as Stripe's lists do.
/// </summary>
public sealed class AuditLog(Db db, TimeProvider clock)
{
    public const string IdPrefix = "aud_";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private const string InsertSql = """
        INSERT INTO audit_log (at, actor, actor_kind, action, target, reason, before_json, after_json)
        VALUES (@at, @actor, @actorKind, @action, @target, @reason, @before, @after);
        """;

    /// <summary>Writes one entry inside the caller's write transaction; returns its id. <paramref name="before"/> and <paramref name="after"/> are serialised as JSON.</summary>
    public long Append(SqliteConnection connection, SqliteTransaction tx, AuditActor actor, string action, string? target, string? reason,
        object? before, object? after)
    {
        connection.Execute(InsertSql, new
        {
            at = clock.GetUtcNow().UtcDateTime, actor = actor.Id, actorKind = actor.Kind, action, target, reason,
            before = ToJson(before), after = ToJson(after),
        }, tx);
        return SQLitePCL.raw.sqlite3_last_insert_rowid(connection.Handle);
    }

    /// <summary>An entry for something that changes nothing else (a read through the admin API, an export): its own write.</summary>
    public Task<long> AppendAsync(AuditActor actor, string action, string? target, string? reason, object? before, object? after, CancellationToken ct = default) =>
        db.WriteAsync((connection, tx) => Append(connection, tx, actor, action, target, reason, before, after), ct);

    private static string? ToJson(object? value) => value is null ? null : JsonSerializer.Serialize(value, value.GetType(), Json);

    public static long? ParseId(string? id) =>
        id is not null && id.StartsWith(IdPrefix, StringComparison.Ordinal)
        && long.TryParse(id.AsSpan(IdPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : null;

    private const string SelectColumns = """
        SELECT id, at, actor, actor_kind AS ActorKind, action, target, reason, before_json AS Before, after_json AS After
        FROM audit_log
        """;

    /// <summary>
    /// One page, newest first, of the entries before id <paramref name="beforeId"/> (exclusive) that match the filter, and whether
    /// there are more. The most selective filter given drives the query through its index (target, then actor, then action, each
    /// ending in id); the others are checked on the rows it finds.
    /// </summary>
    public async Task<(List<AuditEntry> Entries, bool HasMore)> PageAsync(AuditFilter filter, int limit, long? beforeId, CancellationToken ct = default)
    {
        var (sql, args) = PageQuery(filter, limit + 1, beforeId ?? long.MaxValue);
        var rows = await db.ReadAsync(c => c.Query<AuditEntry>(sql, args).AsList(), ct);
        var hasMore = Shared.CursorPage.TrimLookAhead(rows, limit);
        return (rows, hasMore);
    }

    /// <summary>Every matching entry, newest first, read in pages (the CSV export).</summary>
    public async IAsyncEnumerable<AuditEntry> ReadAllAsync(AuditFilter filter, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        long? before = null;
        while (true)
        {
            var (entries, hasMore) = await PageAsync(filter, 500, before, ct);
            foreach (var entry in entries)
                yield return entry;
            if (!hasMore)
                yield break;
            before = entries[^1].Id;
        }
    }

    private static (string Sql, DynamicParameters Args) PageQuery(AuditFilter filter, int take, long beforeId)
    {
        var where = new List<string> { "id < @beforeId" };
        var args = new DynamicParameters(new { beforeId, take });
        // Each condition is a fixed fragment; only which ones apply varies. The first condition on an indexed column
        // with "=" lets SQLite seek (col, id) backwards from @beforeId.
        if (filter.Target is not null)
        {
            where.Add("target = @target");
            args.Add("target", filter.Target);
        }
        if (filter.Actor is not null)
        {
            where.Add("actor = @actor");
            args.Add("actor", filter.Actor);
        }
        if (filter.Action is not null)
        {
            where.Add("action = @action");
            args.Add("action", filter.Action);
        }
        if (filter.From is { } from)
        {
            where.Add("at >= @from");
            args.Add("from", Db.FormatTime(from.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc)));
        }
        if (filter.To is { } to)
        {
            where.Add("at < @to");
            args.Add("to", Db.FormatTime(to.AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc)));
        }
        var sql = new StringBuilder(SelectColumns).Append("\nWHERE ").AppendJoin(" AND ", where).Append("\nORDER BY id DESC\nLIMIT @take;").ToString();
        return (sql, args);
    }
}
