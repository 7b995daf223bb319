using GenSaaS.Web.Features.Shared;
using Dapper;
using GenSaaS.Web.Data;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Generation;

public sealed record GenerationRecord(string Id, string UserId, string Prompt, long Seed, string Backend, long Width, long Height, long DurationMs, DateTime CreatedAt);

/// <summary>One page of a customer's history, newest first, and whether older generations follow it.</summary>
public sealed record GenerationList(IReadOnlyList<GenerationRecord> Data, bool HasMore)
{
    public static readonly GenerationList Empty = new([], false);
}

/// <summary>Reads and writes the <c>generations</c> table.</summary>
public sealed class GenerationStore(Db db)
{
    private const string InsertSql = """
        INSERT INTO generations (id, user_id, prompt, seed, backend, width, height, duration_ms, created_at)
        VALUES (@Id, @UserId, @Prompt, @Seed, @Backend, @Width, @Height, @DurationMs, @CreatedAt);
        """;

    /// <summary>Inserts inside the caller's write transaction, so the row and the usage it completes commit together.</summary>
    public static void Insert(SqliteConnection connection, SqliteTransaction tx, GenerationRecord g) =>
        connection.Prepared(tx, InsertSql,
            ("@Id", g.Id), ("@UserId", g.UserId), ("@Prompt", g.Prompt), ("@Seed", g.Seed), ("@Backend", g.Backend), ("@Width", g.Width),
            ("@Height", g.Height), ("@DurationMs", g.DurationMs), ("@CreatedAt", Db.FormatTime(g.CreatedAt)))
        .ExecuteNonQuery();

    private const string GetSql = """
        SELECT id, user_id AS UserId, prompt, seed, backend, width, height, duration_ms AS DurationMs, created_at AS CreatedAt
        FROM generations
        WHERE id = @id;
        """;

    public async Task<GenerationRecord?> GetAsync(string id, CancellationToken ct = default)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<GenerationRecord>(new CommandDefinition(GetSql, new { id }, cancellationToken: ct));
    }

    private const string FirstPageSql = """
        SELECT id, user_id AS UserId, prompt, seed, backend, width, height, duration_ms AS DurationMs, created_at AS CreatedAt
        FROM generations
        WHERE user_id = @userId
        ORDER BY created_at DESC, id DESC
        LIMIT @take;
        """;

    private const string CursorSql = """
        SELECT created_at FROM generations WHERE id = @startingAfter AND user_id = @userId;
        """;

    private const string NextPageSql = """
        SELECT id, user_id AS UserId, prompt, seed, backend, width, height, duration_ms AS DurationMs, created_at AS CreatedAt
        FROM generations
        WHERE user_id = @userId AND (created_at, id) < (@createdAt, @startingAfter)
        ORDER BY created_at DESC, id DESC
        LIMIT @take;
        """;

    /// <summary>
    /// Up to <paramref name="limit"/> of the user's generations, newest first, after <paramref name="startingAfter"/> when
    /// given; null when that id is not one of the user's generations. The page is found by a seek on
    /// <c>(user_id, created_at, id)</c> and one row more than asked says whether more follow: no offset and no count,
    /// so the millionth page costs what the first does, and rows inserted while a customer pages only ever land before
    /// the cursor.
    /// </summary>
    public async Task<GenerationList?> ListAsync(string userId, int limit, string? startingAfter, CancellationToken ct = default)
    {
        await using var connection = await db.OpenAsync(ct);
        List<GenerationRecord> rows;
        if (startingAfter is null)
        {
            rows = (await connection.QueryAsync<GenerationRecord>(new CommandDefinition(FirstPageSql,
                new { userId, take = limit + 1 }, cancellationToken: ct))).AsList();
        }
        else
        {
            // Read as the stored text, so the cursor compares with exactly what is stored.
            var createdAt = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(CursorSql,
                new { userId, startingAfter }, cancellationToken: ct));
            if (createdAt is null)
                return null;
            rows = (await connection.QueryAsync<GenerationRecord>(new CommandDefinition(NextPageSql,
                new { userId, createdAt, startingAfter, take = limit + 1 }, cancellationToken: ct))).AsList();
        }
        var hasMore = CursorPage.TrimLookAhead(rows, limit);
        return new GenerationList(rows, hasMore);
    }

    private const string DeleteSql = """
        DELETE FROM generations WHERE id = @id AND user_id = @userId;
        """;

    /// <summary>
    /// Deletes one of the user's generations and its stored image parts (by cascade); false when it is not theirs or
    /// is already gone. Only the image goes: its usage row and ledger line stay, so the credit it cost stays spent.
    /// </summary>
    public async Task<bool> DeleteAsync(string userId, string id, CancellationToken ct = default) =>
        await db.ExecuteAsync(DeleteSql, new { id, userId }, ct) > 0;
}
