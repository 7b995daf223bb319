using System.Globalization;
using System.Runtime.CompilerServices;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary>One row of <c>payments</c> as the customer sees it, with Stripe's own documents for it.</summary>
public sealed record PaymentLine(long Id, string Kind, long AmountMinor, string Currency, string Status, string? PlanKey, long? Credits,
    string StripeId, string? UsageId, string? ReceiptUrl, string? HostedInvoiceUrl, string? InvoicePdf, DateTime CreatedAt)
{
    public string PublicId => PaymentHistory.IdPrefix + Id.ToString(CultureInfo.InvariantCulture);

    /// <summary>What it was, in words.</summary>
    public string Description => Kind switch
    {
        "bundle" => "Credits bought",
        "subscription_invoice" => "Monthly plan invoice",
        "authorisation" => "Hold for an image (pay per use)",
        "capture" => "Image charged (pay per use)",
        "refund" => "Refund",
        _ => Kind,
    };

    public string Amount => Money.Format(Kind == "refund" ? -AmountMinor : AmountMinor, Currency);

    /// <summary>Stripe's links are shown only as https addresses: a stored value that is anything else is no link to follow.</summary>
    public static string? Https(string? url) =>
        url is not null && url.StartsWith("https://", StringComparison.OrdinalIgnoreCase) && Uri.IsWellFormedUriString(url, UriKind.Absolute) ? url : null;
}

/// <summary>A page of payments, newest first, and whether older ones follow.</summary>
public sealed record PaymentPage(IReadOnlyList<PaymentLine> Data, bool HasMore)
{
    public static readonly PaymentPage Empty = new([], false);
}

/// <summary>
/// The customer's payments, newest first, paged by cursor like <c>/api/v1/payments</c>: a seek on <c>ix_payments_user
/// (user_id, created_at)</c>, which ends in the row id, for one row more than the page. Also streamed whole for the CSV export.
/// </summary>
public sealed class PaymentHistory(Db db)
{
    public const string IdPrefix = "pay_";

    private const string Columns = """
        SELECT id, kind, amount_minor AS AmountMinor, currency, status, plan_key AS PlanKey, credits, stripe_id AS StripeId, usage_id AS UsageId,
               receipt_url AS ReceiptUrl, hosted_invoice_url AS HostedInvoiceUrl, invoice_pdf AS InvoicePdf, created_at AS CreatedAt
        FROM payments
        """;

    private const string FirstPageSql = Columns + """

        WHERE user_id = @userId
        ORDER BY created_at DESC, id DESC
        LIMIT @take;
        """;

    private const string CursorSql = """
        SELECT created_at FROM payments WHERE id = @id AND user_id = @userId;
        """;

    private const string NextPageSql = Columns + """

        WHERE user_id = @userId AND (created_at, id) < (@createdAt, @id)
        ORDER BY created_at DESC, id DESC
        LIMIT @take;
        """;

    public static long? ParseId(string? id) =>
        id is not null && id.StartsWith(IdPrefix, StringComparison.Ordinal)
        && long.TryParse(id.AsSpan(IdPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : null;

    /// <summary>A page after <paramref name="startingAfter"/> (<c>pay_…</c>); null when that is not one of the customer's payments.</summary>
    public async Task<PaymentPage?> PageAsync(string userId, int limit, string? startingAfter, CancellationToken ct = default)
    {
        List<PaymentLine> rows;
        if (startingAfter is null)
            rows = await db.ReadAsync(c => c.Query<PaymentLine>(FirstPageSql, new { userId, take = limit + 1 }).AsList(), ct);
        else
        {
            // Read as the stored text, so the cursor compares with exactly what is stored.
            var id = ParseId(startingAfter);
            var createdAt = id is null ? null : await db.ReadAsync(c => c.ExecuteScalar<string?>(CursorSql, new { id, userId }), ct);
            if (createdAt is null)
                return null;
            rows = await db.ReadAsync(c => c.Query<PaymentLine>(NextPageSql, new { userId, createdAt, id, take = limit + 1 }).AsList(), ct);
        }
        var hasMore = CursorPage.TrimLookAhead(rows, limit);
        return new PaymentPage(rows, hasMore);
    }

    private const string AllSql = Columns + """

        WHERE user_id = @userId
        ORDER BY created_at DESC, id DESC;
        """;

    /// <summary>Every payment of the customer, newest first, read as it is written out.</summary>
    public async IAsyncEnumerable<PaymentLine> AllAsync(string userId, [EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var connection = await db.OpenAsync(ct);
        await using var reader = await connection.ExecuteReaderAsync(new CommandDefinition(AllSql, new { userId }, cancellationToken: ct));
        var parse = reader.GetRowParser<PaymentLine>();
        while (await reader.ReadAsync(ct))
            yield return parse(reader);
    }
}
