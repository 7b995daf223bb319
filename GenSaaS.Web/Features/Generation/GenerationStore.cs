using Dapper;
using GenSaaS.Web.Data;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Generation;

public sealed record GenerationRecord(string Id, string UserId, string Prompt, long Seed, string Backend, long Width, long Height, long DurationMs, DateTime CreatedAt);

public sealed record GenerationPage(IReadOnlyList<GenerationRecord> Items, int Page, int PageSize, long Total)
{
    public int Pages => (int)Math.Max(1, (Total + PageSize - 1) / PageSize);
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

    private const string PageSql = """
        SELECT id, user_id AS UserId, prompt, seed, backend, width, height, duration_ms AS DurationMs, created_at AS CreatedAt
        FROM generations
        WHERE user_id = @userId
        ORDER BY created_at DESC, id DESC
        LIMIT @limit OFFSET @offset;

        SELECT count(*) FROM generations WHERE user_id = @userId;
        """;

    public async Task<GenerationPage> ListAsync(string userId, int page, int pageSize, CancellationToken ct = default)
    {
        page = Math.Max(1, page);
        await using var connection = await db.OpenAsync(ct);
        await using var results = await connection.QueryMultipleAsync(new CommandDefinition(PageSql,
            new { userId, limit = pageSize, offset = (page - 1) * pageSize }, cancellationToken: ct));
        var items = (await results.ReadAsync<GenerationRecord>()).ToList();
        var total = await results.ReadSingleAsync<long>();
        return new GenerationPage(items, page, pageSize, total);
    }
}
