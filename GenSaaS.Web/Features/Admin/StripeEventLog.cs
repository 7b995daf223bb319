using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// What <c>/admin/billing/events</c> and <c>GET /api/v1/admin/events</c> filter on; null is "any". <see cref="CustomerId"/> is
/// a Stripe customer id (<see cref="StripeEventLog.ResolveCustomerAsync"/> turns an email or user id into one).
/// </summary>
public sealed record StripeEventFilter(string? Type = null, string? ObjectId = null, string? CustomerId = null, string? Status = null)
{
    public static readonly IReadOnlyList<string> Statuses = ["failed", "applied", "ignored", "received"];
}

/// <summary>One stored Stripe event as the lists show it; <see cref="UserId"/> is the account of its Stripe customer, when known.</summary>
public sealed record StripeEventRow(string Id, string Type, string? ObjectId, string? CustomerId, string? UserId, string Status, long Attempts,
    string? LastError, DateTime ReceivedAt, DateTime? AppliedAt)
{
    public bool CanReplay => Status == "failed";
}

/// <summary>
/// The stored Stripe events (<c>stripe_events</c>), newest received first, for admins. Pages by (received_at, id) from the
/// last event shown, as Stripe's lists do: no OFFSET and no count, and an event received meanwhile (newer than every page
/// already shown) never shifts one. Every filter is an equality that starts one of the table's indexes, each ending in
/// (received_at, id), so any page of any filter is one index seek (Data/Migrations/0066_stripe_events_admin.sql).
/// </summary>
public sealed class StripeEventLog(Db db)
{
    private const string SelectColumns = """
        SELECT e.id, e.type, e.object_id AS ObjectId, e.customer_id AS CustomerId, b.user_id AS UserId, e.status, e.attempts,
               e.last_error AS LastError, e.received_at AS ReceivedAt, e.applied_at AS AppliedAt
        FROM stripe_events AS e
        LEFT JOIN billing_customers AS b ON b.stripe_customer_id = e.customer_id
        """;

    private const string PositionSql = """
        SELECT received_at FROM stripe_events WHERE id = @id;
        """;

    /// <summary>
    /// A page of <paramref name="limit"/> events matching the filter, older than <paramref name="startingAfter"/> (an event id;
    /// null: the newest), and whether there are more. Null when <paramref name="startingAfter"/> is no stored event.
    /// </summary>
    public async Task<(List<StripeEventRow> Rows, bool HasMore)?> PageAsync(StripeEventFilter filter, int limit, string? startingAfter, CancellationToken ct = default)
    {
        return await db.ReadAsync(c =>
        {
            using var tx = c.BeginTransaction(deferred: true);
            // The top: "9999…" sorts after every stored time.
            var beforeAt = "9999-12-31 23:59:59.9999999";
            var beforeId = "";
            if (startingAfter is not null)
            {
                if (c.ExecuteScalar<string?>(PositionSql, new { id = startingAfter }, tx) is not { } at)
                    return ((List<StripeEventRow>, bool)?)null;
                (beforeAt, beforeId) = (at, startingAfter);
            }
            var (sql, args) = PageQuery(filter, limit + 1, beforeAt, beforeId);
            var rows = c.Query<StripeEventRow>(sql, args, tx).AsList();
            var hasMore = Shared.CursorPage.TrimLookAhead(rows, limit);
            return (rows, hasMore);
        }, ct);
    }

    /// <summary>The page's SQL: fixed fragments, only which ones apply varies; the first equality lets SQLite seek its index backwards.</summary>
    public static (string Sql, DynamicParameters Args) PageQuery(StripeEventFilter filter, int take, string beforeAt, string beforeId)
    {
        var where = new List<string>();
        var args = new DynamicParameters(new { beforeAt, beforeId, take });
        if (filter.ObjectId is not null)
        {
            where.Add("e.object_id = @objectId");
            args.Add("objectId", filter.ObjectId);
        }
        if (filter.CustomerId is not null)
        {
            where.Add("e.customer_id = @customerId");
            args.Add("customerId", filter.CustomerId);
        }
        if (filter.Type is not null)
        {
            where.Add("e.type = @type");
            args.Add("type", filter.Type);
        }
        if (filter.Status is not null)
        {
            where.Add("e.status = @status");
            args.Add("status", filter.Status);
        }
        where.Add("(e.received_at, e.id) < (@beforeAt, @beforeId)");
        var sql = new StringBuilder(SelectColumns).Append("\nWHERE ").AppendJoin("\n  AND ", where)
            .Append("\nORDER BY e.received_at DESC, e.id DESC\nLIMIT @take;").ToString();
        return (sql, args);
    }

    private const string DetailSql = """
        SELECT e.id, e.type, e.object_id AS ObjectId, e.customer_id AS CustomerId, b.user_id AS UserId, e.status, e.attempts,
               e.last_error AS LastError, e.received_at AS ReceivedAt, e.applied_at AS AppliedAt, e.payload, e.created
        FROM stripe_events AS e
        LEFT JOIN billing_customers AS b ON b.stripe_customer_id = e.customer_id
        WHERE e.id = @id;
        """;

    private sealed record DetailRow(string Id, string Type, string? ObjectId, string? CustomerId, string? UserId, string Status, long Attempts,
        string? LastError, DateTime ReceivedAt, DateTime? AppliedAt, string Payload, long Created);

    /// <summary>One event with its payload as stored, or null.</summary>
    public async Task<(StripeEventRow Row, string Payload, long Created)?> GetAsync(string id, CancellationToken ct = default)
    {
        await using var connection = await db.OpenAsync(ct);
        var d = await connection.QuerySingleOrDefaultAsync<DetailRow>(new CommandDefinition(DetailSql, new { id }, cancellationToken: ct));
        return d is null ? null : (new StripeEventRow(d.Id, d.Type, d.ObjectId, d.CustomerId, d.UserId, d.Status, d.Attempts, d.LastError, d.ReceivedAt, d.AppliedAt), d.Payload, d.Created);
    }

    private const string CustomerByEmailSql = """
        SELECT b.stripe_customer_id
        FROM AspNetUsers AS u
        JOIN billing_customers AS b ON b.user_id = u.Id
        WHERE u.NormalizedEmail = @normalized
        LIMIT 1;
        """;

    private const string CustomerByUserSql = """
        SELECT stripe_customer_id FROM billing_customers WHERE user_id = @userId;
        """;

    /// <summary>
    /// The Stripe customer id that a search for a customer means: a Stripe customer id as given (<c>cus_…</c>, even one no
    /// account has), an email's account's, or a user id's account's. Null when the email or user has no Stripe customer.
    /// </summary>
    public async Task<string?> ResolveCustomerAsync(string customer, CancellationToken ct = default)
    {
        customer = customer.Trim();
        if (customer.StartsWith("cus_", StringComparison.Ordinal))
            return customer;
        await using var connection = await db.OpenAsync(ct);
        return customer.Contains('@')
            ? await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(CustomerByEmailSql, new { normalized = customer.ToUpperInvariant() }, cancellationToken: ct))
            : await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(CustomerByUserSql, new { userId = customer }, cancellationToken: ct));
    }

    private static readonly JsonWriterOptions Indented = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// The payload indented for reading, with its text as Stripe sent it (no \u escapes, which would hide what is there); the
    /// page HTML-encodes it like any text. A body that is not JSON is shown as it is.
    /// </summary>
    public static string Pretty(string payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer, Indented))
                document.WriteTo(writer);
            return Encoding.UTF8.GetString(buffer.ToArray());
        }
        catch (JsonException)
        {
            return payload;
        }
    }
}
