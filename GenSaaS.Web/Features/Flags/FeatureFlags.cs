using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Admin;
using Microsoft.Extensions.Options;
using Microsoft.FeatureManagement;

namespace GenSaaS.Web.Features.Flags;

/// <summary>The flags the app checks; only these can be set. A flag without a row is on: the configured behaviour.</summary>
public static class FlagNames
{
    public const string Billing = "billing";
    public const string PayPerUse = "pay_per_use";
    public const string Bundles = "bundles";
    public const string MonthlyPlan = "monthly_plan";
    public const string AutoTopUp = "auto_top_up";
    public const string Generation = "generation";

    public sealed record FlagInfo(string Name, string Title, string WhenOff);

    public static readonly IReadOnlyList<FlagInfo> All =
    [
        new(Billing, "Billing", "/billing and the billing API say billing is not available; nothing can be bought, pay per use does not fund images and auto top-up buys nothing. Trial and admin credits still work."),
        new(PayPerUse, "Pay per use", "No card is saved for pay per use and no image is charged per use; credits still pay."),
        new(Bundles, "Credit bundles", "Bundles cannot be bought (refused before Checkout opens); auto top-up has its own flag."),
        new(MonthlyPlan, "Monthly plan", "The monthly plan is not offered and cannot be subscribed to; existing subscriptions keep working."),
        new(AutoTopUp, "Auto top-up", "Auto top-up buys nothing (a queued top-up is canceled before its charge) and cannot be turned on; its settings are kept, turning it off still works, and the first crossing after it is back on tops up."),
        new(Generation, "Generation", "Kill switch: /generate and POST /api/v1/generations refuse with the message set here; nothing is charged."),
    ];

    public static FlagInfo? Find(string? name) => All.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.Ordinal));
}

/// <summary><c>Flags</c>: how the flags are read.</summary>
public sealed class FlagsOptions
{
    /// <summary>Seconds this process keeps the flags it read before reading them again (a change made here is seen at once).</summary>
    [Range(0, 300)] public int CacheSeconds { get; set; } = 5;
}

/// <summary>
/// A flag as stored, or as it behaves without a row (<see cref="Stored"/> false: on for everyone). On for a user when
/// <see cref="Enabled"/> and either <see cref="Percentage"/> is 100, the user is listed, or the user's bucket is below the percentage.
/// </summary>
public sealed record FlagState(string Name, bool Enabled, int Percentage, IReadOnlyList<string> Accounts, string? Message, long Version, bool Stored,
    DateTime? UpdatedAt = null, string? UpdatedBy = null)
{
    public static FlagState Default(string name) => new(name, true, 100, [], null, 0, false);

    /// <summary>The state that decides, without who changed it or when: what the audit log's before and after hold.</summary>
    public object Record => new { Name, Enabled, Percentage, Accounts, Message, Stored };

    public bool SameSettings(FlagState other) =>
        Enabled == other.Enabled && Percentage == other.Percentage && Message == other.Message && Accounts.SequenceEqual(other.Accounts, StringComparer.Ordinal);

    /// <summary>Whether the flag lets everyone through without asking who (on, 100 %).</summary>
    public bool OnForEveryone => Enabled && Percentage == 100;
}

/// <summary>A change to a flag: a null field keeps its value (<see cref="SetMessage"/> says whether <see cref="Message"/> was given).</summary>
public sealed record FlagUpdate(bool? Enabled = null, int? Percentage = null, IReadOnlyList<string>? Accounts = null, string? Message = null, bool SetMessage = false)
{
    public FlagState ApplyTo(FlagState current) => current with
    {
        Enabled = Enabled ?? current.Enabled,
        Percentage = Percentage ?? current.Percentage,
        Accounts = Accounts is { } given ? given.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList() : current.Accounts,
        Message = SetMessage ? (string.IsNullOrWhiteSpace(Message) ? null : Message.Trim()) : current.Message,
    };
}

public enum FlagSetStatus { Changed, Unchanged, Conflict }

/// <summary>What a change came to: the flag before and after, and the audit entry written (none when nothing changed).</summary>
public sealed record FlagSetOutcome(FlagSetStatus Status, FlagState Before, FlagState After, long? AuditId);

/// <summary>The user a flag is asked about (null: nobody signed in, or a job acting for no one).</summary>
public sealed record FlagUser(string? UserId);

public static class FeatureManagerExtensions
{
    /// <summary>Whether <paramref name="flag"/> is on for <paramref name="userId"/>, through Microsoft.FeatureManagement.</summary>
    public static Task<bool> IsOnAsync(this IFeatureManager features, string flag, string? userId) =>
        features.IsEnabledAsync(flag, new FlagUser(userId));
}

/// <summary>
/// <c>feature_flags</c>: reads the flags for the admin pages, the API and the CLI, and changes one with its audit entry in the
/// same write transaction. After a change this process's definitions are dropped, so it takes effect here at once; other
/// processes see it within <see cref="FlagsOptions.CacheSeconds"/>.
/// </summary>
public sealed class FlagStore(Db db, AuditLog audit, FlagDefinitions definitions, TimeProvider clock)
{
    public const string AuditAction = "flag.set";
    public const int MaxAccounts = 1000;
    public const int MaxMessageLength = 500;
    public const int MaxReasonLength = 500;

    private sealed record Row(string Name, long Enabled, long Percentage, string AccountsJson, string? Message, long Version, DateTime UpdatedAt, string UpdatedBy);

    private static FlagState ToState(Row r) =>
        new(r.Name, r.Enabled == 1, (int)r.Percentage, JsonSerializer.Deserialize<List<string>>(r.AccountsJson) ?? [], r.Message, r.Version, true,
            r.UpdatedAt, r.UpdatedBy);

    private const string SelectAllSql = """
        SELECT name, enabled, percentage, accounts_json AS AccountsJson, message, version, updated_at AS UpdatedAt, updated_by AS UpdatedBy
        FROM feature_flags;
        """;

    /// <summary>Every known flag in catalogue order, stored or not (a row for a name the app no longer knows is left out).</summary>
    public async Task<IReadOnlyList<FlagState>> ReadAllAsync(CancellationToken ct = default)
    {
        var rows = await db.ReadAsync(c => c.Query<Row>(SelectAllSql).ToDictionary(r => r.Name, StringComparer.Ordinal), ct);
        return FlagNames.All.Select(f => rows.TryGetValue(f.Name, out var row) ? ToState(row) : FlagState.Default(f.Name)).ToList();
    }

    /// <summary>Every row as it is now, for <see cref="FlagDefinitions"/>.</summary>
    internal async Task<Dictionary<string, FlagState>> ReadRowsAsync(CancellationToken ct) =>
        await db.ReadAsync(c => c.Query<Row>(SelectAllSql).Select(ToState).ToDictionary(s => s.Name, StringComparer.Ordinal), ct);

    public async Task<FlagState?> ReadAsync(string name, CancellationToken ct = default) =>
        FlagNames.Find(name) is null ? null : (await ReadAllAsync(ct)).First(f => f.Name == name);

    private const string SelectOneSql = """
        SELECT name, enabled, percentage, accounts_json AS AccountsJson, message, version, updated_at AS UpdatedAt, updated_by AS UpdatedBy
        FROM feature_flags WHERE name = @name;
        """;

    private const string UpsertSql = """
        INSERT INTO feature_flags (name, enabled, percentage, accounts_json, message, version, updated_at, updated_by)
        VALUES (@name, @enabled, @percentage, @accountsJson, @message, 1, @now, @actor)
        ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, percentage = excluded.percentage, accounts_json = excluded.accounts_json,
            message = excluded.message, version = feature_flags.version + 1, updated_at = excluded.updated_at, updated_by = excluded.updated_by;
        """;

    /// <summary>
    /// Applies <paramref name="update"/> to the flag as it is inside the write transaction, and writes it with one audit entry
    /// (before and after). Nothing is written when nothing changes. With <paramref name="expectedVersion"/> (a form's), a flag
    /// changed by someone else since is refused as <see cref="FlagSetStatus.Conflict"/>, unless it already is what was asked.
    /// </summary>
    public async Task<FlagSetOutcome> SetAsync(AuditActor actor, string name, FlagUpdate update, string reason, long? expectedVersion = null,
        CancellationToken ct = default)
    {
        if (FlagNames.Find(name) is null)
            throw new ArgumentException($"Unknown flag '{name}'", nameof(name));
        reason = reason.Trim();
        if (reason.Length is 0 or > MaxReasonLength)
            throw new ArgumentException($"A reason of 1 to {MaxReasonLength} characters is required", nameof(reason));
        if (update.Percentage is < 0 or > 100)
            throw new ArgumentOutOfRangeException(nameof(update), "A percentage is 0 to 100");
        var outcome = await db.WriteAsync((connection, tx) =>
        {
            var before = connection.QuerySingleOrDefault<Row>(SelectOneSql, new { name }, tx) is { } row ? ToState(row) : FlagState.Default(name);
            var wanted = update.ApplyTo(before);
            if (before.Stored && wanted.SameSettings(before))
                return new FlagSetOutcome(FlagSetStatus.Unchanged, before, before, null);
            if (expectedVersion is { } expected && expected != before.Version)
                return new FlagSetOutcome(wanted.SameSettings(before) ? FlagSetStatus.Unchanged : FlagSetStatus.Conflict, before, before, null);
            var now = clock.GetUtcNow().UtcDateTime;
            connection.Execute(UpsertSql, new
            {
                name, enabled = wanted.Enabled ? 1 : 0, percentage = wanted.Percentage, accountsJson = JsonSerializer.Serialize(wanted.Accounts), message = wanted.Message,
                now, actor = actor.Id,
            }, tx);
            var after = ToState(connection.QuerySingle<Row>(SelectOneSql, new { name }, tx));
            var auditId = audit.Append(connection, tx, actor, AuditAction, name, reason, before.Record, after.Record);
            return new FlagSetOutcome(FlagSetStatus.Changed, before, after, auditId);
        }, ct);
        if (outcome.Status == FlagSetStatus.Changed)
            definitions.Invalidate();
        return outcome;
    }
}

/// <summary>
/// The <see cref="IFeatureDefinitionProvider"/> of the app: the flags of <c>feature_flags</c>, read at most every
/// <see cref="FlagsOptions.CacheSeconds"/> seconds. A flag without a row is always on; one turned off has no filter (off); one
/// on for a share or a list of accounts has the <see cref="RolloutFilter"/>.
/// </summary>
public sealed class FlagDefinitions(IServiceProvider services, IOptions<FlagsOptions> options, TimeProvider clock) : IFeatureDefinitionProvider
{
    private sealed record Snapshot(Dictionary<string, FlagState> Rows, DateTimeOffset ReadAt);

    private volatile Snapshot? _snapshot;

    /// <summary>Forgets what was read, so the next check reads the table (after a change made by this process).</summary>
    public void Invalidate() => _snapshot = null;

    private async Task<Snapshot> CurrentAsync(CancellationToken ct = default)
    {
        var now = clock.GetUtcNow();
        if (_snapshot is { } kept && now - kept.ReadAt < TimeSpan.FromSeconds(options.Value.CacheSeconds))
            return kept;
        // Resolved late: the store needs these definitions to invalidate them.
        var rows = await services.GetRequiredService<FlagStore>().ReadRowsAsync(ct);
        var fresh = new Snapshot(rows, now);
        _snapshot = fresh;
        return fresh;
    }

    /// <summary>The flag as this process currently sees it (at most <see cref="FlagsOptions.CacheSeconds"/> old).</summary>
    public async Task<FlagState> StateAsync(string name, CancellationToken ct = default) =>
        (await CurrentAsync(ct)).Rows.TryGetValue(name, out var state) ? state : FlagState.Default(name);

    /// <summary>The operator's message of a flag that is off (the kill switch's), or null.</summary>
    public async Task<string?> MessageAsync(string name, CancellationToken ct = default) => (await StateAsync(name, ct)).Message;

    public async Task<FeatureDefinition?> GetFeatureDefinitionAsync(string featureName) =>
        FlagNames.Find(featureName) is null ? null : Define(await StateAsync(featureName));

    public async IAsyncEnumerable<FeatureDefinition> GetAllFeatureDefinitionsAsync()
    {
        var snapshot = await CurrentAsync();
        foreach (var flag in FlagNames.All)
            yield return Define(snapshot.Rows.TryGetValue(flag.Name, out var state) ? state : FlagState.Default(flag.Name));
    }

    private static FeatureDefinition Define(FlagState state) => new()
    {
        Name = state.Name,
        EnabledFor = !state.Enabled ? []
            : state.OnForEveryone ? [new FeatureFilterConfiguration { Name = "AlwaysOn" }]
            : [new FeatureFilterConfiguration { Name = RolloutFilter.Alias, ParametersObject = new RolloutSettings(state.Percentage, state.Accounts.ToHashSet(StringComparer.Ordinal)) }],
    };
}

/// <summary>The rollout of a flag that is on: the share of users (by bucket) and the accounts always let through.</summary>
public sealed record RolloutSettings(int Percentage, IReadOnlySet<string> Accounts);

/// <summary>
/// On for a listed account, or for a user whose bucket is below the percentage. The bucket is the user id's SHA-256 taken
/// modulo 100: stable for a user, the same for every flag (so a user inside 10 % of one flag is inside 10 % of another, and
/// raising a percentage only adds users). Nobody (no user) is let through by a rollout.
/// </summary>
[FilterAlias(Alias)]
public sealed class RolloutFilter : IContextualFeatureFilter<FlagUser>
{
    public const string Alias = "Rollout";

    public Task<bool> EvaluateAsync(FeatureFilterEvaluationContext context, FlagUser user)
    {
        if (context.Settings is not RolloutSettings settings || user.UserId is not { Length: > 0 } id)
            return Task.FromResult(false);
        return Task.FromResult(settings.Accounts.Contains(id) || Bucket(id) < settings.Percentage);
    }

    /// <summary>The user's place, 0 to 99, in every percentage rollout.</summary>
    public static int Bucket(string userId)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(userId), hash);
        return (int)(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(hash) % 100);
    }
}
