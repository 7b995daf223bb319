using System.Globalization;
using System.Runtime.CompilerServices;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary>One line of the credit ledger as the customer sees it: what changed, why, and what it refers to.</summary>
public sealed record CreditLine(long Id, string Kind, string Bucket, long Amount, long BalanceAfter, string Reason, string? Reference,
    DateTime CreatedAt, string? GenerationId, string? Prompt, long? PaymentId)
{
    /// <summary>The line's id as the API and the page's cursor write it (<c>cl_…</c>).</summary>
    public string PublicId => CreditHistory.IdPrefix + Id.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Why the balance changed, in one word: <c>purchase</c> (a bundle bought), <c>grant</c> (trial or given credits),
    /// <c>generation</c> (spent on an image), <c>refund</c> (a failed image's credit returned, or credits taken back when a
    /// purchase was refunded), <c>expiry</c>, <c>adjustment</c> (an operator's correction).
    /// </summary>
    public string Category => Kind switch
    {
        "grant" => PaymentId is not null ? "purchase" : "grant",
        "debit" => "generation",
        "release" or "refund_reversal" => "refund",
        "expiry" => "expiry",
        _ => "adjustment",
    };
}

/// <summary>A page of the credit history, newest first, and whether older lines follow.</summary>
public sealed record CreditPage(IReadOnlyList<CreditLine> Data, bool HasMore)
{
    public static readonly CreditPage Empty = new([], false);
}

/// <summary>
/// The customer's credit history: every ledger line, newest first, paged by cursor (the line id; ids only grow, in commit
/// order), and the same lines streamed for the CSV export. Each page is one seek on <c>ix_credit_ledger_user (user_id, id)</c>;
/// what a line refers to is found by primary or unique keys (its usage, that usage's generation, the payment of a purchase or refund).
/// </summary>
public sealed class CreditHistory(Db db)
{
    public const string IdPrefix = "cl_";

    private const string Select = """
        SELECT l.id, l.kind, l.bucket, l.amount, l.balance_after AS BalanceAfter, l.reason, l.reference, l.created_at AS CreatedAt,
               g.id AS GenerationId, g.prompt, p.id AS PaymentId
        FROM credit_ledger AS l
        LEFT JOIN usage AS u ON l.kind IN ('debit', 'release') AND u.id = l.reference AND u.user_id = l.user_id
        LEFT JOIN generations AS g ON g.id = u.generation_id
        LEFT JOIN payments AS p ON p.kind = CASE l.kind WHEN 'grant' THEN 'bundle' WHEN 'refund_reversal' THEN 'refund' END
                                AND p.stripe_id = l.reference AND p.user_id = l.user_id
        """;

    private const string PageSql = Select + """

        WHERE l.user_id = @userId AND l.id < @before
        ORDER BY l.id DESC
        LIMIT @take;
        """;

    private const string CursorSql = """
        SELECT 1 FROM credit_ledger WHERE id = @id AND user_id = @userId;
        """;

    /// <summary>The id of a public cursor (<c>cl_123</c>), or null when it is not one.</summary>
    public static long? ParseId(string? id) =>
        id is not null && id.StartsWith(IdPrefix, StringComparison.Ordinal)
        && long.TryParse(id.AsSpan(IdPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : null;

    /// <summary>
    /// Up to <paramref name="limit"/> lines older than <paramref name="startingAfter"/> (a <c>cl_…</c> id), newest first; null
    /// when that cursor is not one of the customer's lines (another customer's line is answered like an unknown one).
    /// </summary>
    public async Task<CreditPage?> PageAsync(string userId, int limit, string? startingAfter, CancellationToken ct = default)
    {
        var before = long.MaxValue;
        if (startingAfter is not null)
        {
            if (ParseId(startingAfter) is not { } id || await db.ReadAsync(c => c.ExecuteScalar<long?>(CursorSql, new { id, userId }), ct) is null)
                return null;
            before = id;
        }
        var rows = await db.ReadAsync(c => c.Query<CreditLine>(PageSql, new { userId, before, take = limit + 1 }).AsList(), ct);
        var hasMore = CursorPage.TrimLookAhead(rows, limit);
        return new CreditPage(rows, hasMore);
    }

    private const string AllSql = Select + """

        WHERE l.user_id = @userId
        ORDER BY l.id DESC;
        """;

    /// <summary>Every line of the customer, newest first, read as it is written out (one read transaction, never the whole list in memory).</summary>
    public async IAsyncEnumerable<CreditLine> AllAsync(string userId, [EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var connection = await db.OpenAsync(ct);
        await using var reader = await connection.ExecuteReaderAsync(new CommandDefinition(AllSql, new { userId }, cancellationToken: ct));
        var parse = reader.GetRowParser<CreditLine>();
        while (await reader.ReadAsync(ct))
            yield return parse(reader);
    }
}
