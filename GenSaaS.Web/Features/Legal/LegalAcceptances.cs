using Dapper;
using GenSaaS.Web.Data;
using Microsoft.Extensions.Caching.Memory;

namespace GenSaaS.Web.Features.Legal;

/// <summary>A user's acceptance of one document's version.</summary>
public sealed record LegalAcceptance(string Document, string Version, DateTime AcceptedAt, string Via);

/// <summary>
/// What each user accepted (<c>legal_acceptances</c>): recorded at sign-up and on <c>/legal/accept</c>, and checked on every
/// signed-in page request (<see cref="LegalGate"/>). An acceptance is never taken back, so a "yes" for a set of versions is
/// cached; a "no" is always read again, so the acceptance counts at once.
/// </summary>
public sealed class LegalAcceptances(Db db, LegalDocuments documents, TimeProvider clock) : IDisposable
{
    public const string ViaSignUp = "sign_up";
    public const string ViaAskedAgain = "asked_again";

    private readonly MemoryCache _accepted = new(new MemoryCacheOptions { SizeLimit = 100_000 });

    private const string AcceptedSql = """
        SELECT document, version FROM legal_acceptances WHERE user_id = @userId AND document IN @names;
        """;

    /// <summary>The published documents whose current version the user has not accepted; empty when nothing is asked.</summary>
    public async Task<IReadOnlyList<LegalDocument>> PendingAsync(string userId, CancellationToken ct)
    {
        var published = documents.Published();
        if (published.Count == 0)
            return [];
        var key = userId + "\n" + LegalConsent.StampOf(published);
        if (_accepted.TryGetValue(key, out _))
            return [];
        await using var connection = await db.OpenAsync(ct);
        var accepted = (await connection.QueryAsync<(string Document, string Version)>(new CommandDefinition(AcceptedSql,
            new { userId, names = published.Select(d => d.Name).ToArray() }, cancellationToken: ct))).ToHashSet();
        var pending = published.Where(d => !accepted.Contains((d.Name, d.Version))).ToList();
        if (pending.Count == 0)
            _accepted.Set(key, true, new MemoryCacheEntryOptions { Size = 1, SlidingExpiration = TimeSpan.FromMinutes(30) });
        return pending;
    }

    private const string RecordSql = """
        INSERT INTO legal_acceptances (user_id, document, version, accepted_at, via)
        VALUES (@userId, @document, @version, @now, @via)
        ON CONFLICT (user_id, document, version) DO NOTHING;
        """;

    /// <summary>Records that the user accepted these versions; one row per document and version however often it is asked.</summary>
    public Task RecordAsync(string userId, IReadOnlyList<LegalDocument> accepted, string via, CancellationToken ct)
    {
        if (accepted.Count == 0)
            return Task.CompletedTask;
        var now = clock.GetUtcNow().UtcDateTime;
        var rows = accepted.Select(d => new { userId, document = d.Name, version = d.Version, now, via }).ToList();
        return db.WriteAsync((connection, tx) => connection.Execute(RecordSql, rows, tx), ct);
    }

    private const string HistorySql = """
        SELECT document, version, accepted_at AS AcceptedAt, via FROM legal_acceptances
        WHERE user_id = @userId
        ORDER BY accepted_at DESC, document;
        """;

    /// <summary>Every acceptance of the user, newest first (the admin's customer page).</summary>
    public async Task<IReadOnlyList<LegalAcceptance>> HistoryAsync(string userId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.QueryAsync<(string Document, string Version, string AcceptedAt, string Via)>(
            new CommandDefinition(HistorySql, new { userId }, cancellationToken: ct));
        return rows.Select(r => new LegalAcceptance(r.Document, r.Version, Db.ParseTime(r.AcceptedAt), r.Via)).ToList();
    }

    public void Dispose() => _accepted.Dispose();
}
