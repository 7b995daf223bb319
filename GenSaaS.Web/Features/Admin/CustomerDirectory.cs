using System.Text;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Accounts;

namespace GenSaaS.Web.Features.Admin;

/// <summary>What the customer list filters on; null is "any".</summary>
public sealed record CustomerQuery(string? Text = null, string? Plan = null, string? Status = null)
{
    /// <summary>The plans a customer can be listed under, chosen in the account summary's order: a live subscription, prepaid credits, a card for pay per use, trial credits, none.</summary>
    public static readonly IReadOnlyList<string> Plans = ["subscription", "prepaid", "pay_per_use", "trial", "none"];

    /// <summary>An account's standing: <c>active</c> (confirmed and not locked), <c>unconfirmed</c> (email not confirmed), <c>locked</c>.</summary>
    public static readonly IReadOnlyList<string> Statuses = ["active", "unconfirmed", "locked"];
}

/// <summary>One line of the customer list.</summary>
public sealed record CustomerRow
{
    public string Id { get; init; } = "";
    public string? Email { get; init; }
    public string? UserName { get; init; }
    public DateTime CreatedAt { get; init; }
    public long Confirmed { get; init; }
    public string? LockoutEnd { get; init; }
    public string? StripeCustomerId { get; init; }
    public string Plan { get; init; } = "none";
    public long TrialCredits { get; init; }
    public long PrepaidCredits { get; init; }

    public bool EmailConfirmed => Confirmed != 0;

    public bool IsLockedAt(DateTime now) =>
        LockoutEnd is { } end && DateTimeOffset.TryParse(end, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var until)
        && until.UtcDateTime > now;

    public string StatusAt(DateTime now) => IsLockedAt(now) ? "locked" : EmailConfirmed ? "active" : "unconfirmed";
}

/// <summary>
/// The admin's customer list: search by email, user name or Stripe customer id (prefix, case-insensitive for the names), filter
/// by plan and status, newest sign-up first, paged by the cursor <c>(created_at, user_id)</c> of <c>account_signups</c>. No
/// OFFSET and no count: the first page and a deep one cost one seek each, and accounts signing up meanwhile never shift a page.
/// </summary>
public sealed class CustomerDirectory(Db db, TimeProvider clock)
{
    // The plan is kept on the sign-up row (the view account_plans decides it; triggers keep it, migration 0056).
    private const string RowColumns = """
        SELECT u.Id, u.Email, u.UserName, a.created_at AS CreatedAt, u.EmailConfirmed AS Confirmed, u.LockoutEnd, bc.stripe_customer_id AS StripeCustomerId,
               a.plan AS Plan,
               coalesce(b.trial_balance, 0) AS TrialCredits, coalesce(b.prepaid_balance, 0) AS PrepaidCredits
        """;

    private const string RowJoins = """
        JOIN AspNetUsers AS u ON u.Id = a.user_id
        LEFT JOIN credit_balances AS b ON b.user_id = a.user_id
        LEFT JOIN billing_customers AS bc ON bc.user_id = a.user_id
        """;

    // A search finds its few candidates through the unique indexes on the normalised email and user name, the Stripe customer
    // id, or the user id itself (each a range or point seek), then sorts only those. MATERIALIZED keeps SQLite from walking the
    // whole sign-up index instead.
    private const string SearchCte = """
        WITH matches (user_id) AS MATERIALIZED (
            SELECT Id FROM AspNetUsers WHERE NormalizedEmail >= @upper AND NormalizedEmail < @upperEnd
            UNION
            SELECT Id FROM AspNetUsers WHERE NormalizedUserName >= @upper AND NormalizedUserName < @upperEnd
            UNION
            SELECT user_id FROM billing_customers WHERE stripe_customer_id >= @raw AND stripe_customer_id < @rawEnd
            UNION
            SELECT Id FROM AspNetUsers WHERE Id = @raw
        )
        """;

    // Locked accounts are few: without a search, the locked filter starts from them (ix_users_lockout_end).
    private const string LockedCte = """
        WITH matches (user_id) AS MATERIALIZED (
            SELECT Id FROM AspNetUsers WHERE LockoutEnd IS NOT NULL AND LockoutEnd > @now
        )
        """;

    private const string CursorSql = """
        SELECT created_at FROM account_signups WHERE user_id = @userId;
        """;

    /// <summary>Where a page starts: the sign-up time of the customer <paramref name="startingAfter"/>, or null when there is no such customer.</summary>
    public Task<string?> CursorAsync(string startingAfter, CancellationToken ct) =>
        db.ReadAsync(c => c.ExecuteScalar<string?>(CursorSql, new { userId = startingAfter }), ct);

    /// <summary>
    /// One page of customers newest first, after the customer whose sign-up time is <paramref name="afterCreatedAt"/> and id
    /// <paramref name="afterId"/> (both null for the first page), and whether there are more. The page's keys are chosen first,
    /// on the index that starts with the filter (the plan, the confirmed flag) or from the few candidates of a search or of the
    /// locked filter; only the rows shown are then joined to what the list shows.
    /// </summary>
    public async Task<(List<CustomerRow> Rows, bool HasMore)> PageAsync(CustomerQuery query, int limit, string? afterCreatedAt, string? afterId, CancellationToken ct)
    {
        var args = new DynamicParameters(new { take = limit + 1, now = NowText() });
        var sql = new StringBuilder();
        var text = query.Text?.Trim();
        var fromCandidates = true;
        if (!string.IsNullOrEmpty(text))
        {
            sql.Append(SearchCte);
            var upper = text.ToUpperInvariant();
            args.AddDynamicParams(new { upper, upperEnd = upper + char.ConvertFromUtf32(0x10FFFF), raw = text, rawEnd = text + char.ConvertFromUtf32(0x10FFFF) });
        }
        else if (query.Status == "locked")
            sql.Append(LockedCte);
        else
            fromCandidates = false;
        sql.Append(fromCandidates ? ",\npage AS MATERIALIZED (\n" : "WITH page AS MATERIALIZED (\n")
            .Append("SELECT a.user_id, a.created_at\n")
            .Append(fromCandidates ? "FROM matches AS m\nJOIN account_signups AS a ON a.user_id = m.user_id\n" : "FROM account_signups AS a\n");
        if (query.Status is not null)
            sql.Append("JOIN AspNetUsers AS u ON u.Id = a.user_id\n");
        var where = new List<string>();
        if (afterCreatedAt is not null)
        {
            where.Add("(a.created_at, a.user_id) < (@afterCreatedAt, @afterId)");
            args.AddDynamicParams(new { afterCreatedAt, afterId });
        }
        if (query.Plan is not null)
        {
            where.Add("a.plan = @plan");
            args.Add("plan", query.Plan);
        }
        switch (query.Status)
        {
            case "locked":
                where.Add("u.LockoutEnd IS NOT NULL AND u.LockoutEnd > @now");
                break;
            case "unconfirmed":
                where.Add("a.email_confirmed = 0 AND (u.LockoutEnd IS NULL OR u.LockoutEnd <= @now)");
                break;
            case "active":
                where.Add("a.email_confirmed = 1 AND (u.LockoutEnd IS NULL OR u.LockoutEnd <= @now)");
                break;
        }
        if (where.Count > 0)
            sql.Append("WHERE ").AppendJoin("\n  AND ", where).Append('\n');
        sql.Append("ORDER BY a.created_at DESC, a.user_id DESC\nLIMIT @take\n)\n")
            .Append(RowColumns).Append("\nFROM page AS p\nJOIN account_signups AS a ON a.user_id = p.user_id\n").Append(RowJoins)
            .Append("\nORDER BY p.created_at DESC, p.user_id DESC;");
        var rows = await db.ReadAsync(c => c.Query<CustomerRow>(sql.ToString(), args).AsList(), ct);
        var hasMore = Shared.CursorPage.TrimLookAhead(rows, limit);
        return (rows, hasMore);
    }

    /// <summary>Identity writes <c>LockoutEnd</c> as a <c>DateTimeOffset</c> in UTC text (<c>2026-12-06 18:00:00+00:00</c>); this compares with it as text.</summary>
    private string NowText() => clock.GetUtcNow().ToString("yyyy-MM-dd HH:mm:ss.FFFFFFFzzz", System.Globalization.CultureInfo.InvariantCulture);

    private const string OneSql = $"""
        {RowColumns}
        FROM account_signups AS a
        {RowJoins}
        WHERE a.user_id = @userId;
        """;

    public Task<CustomerRow?> FindAsync(string userId, CancellationToken ct) =>
        db.ReadAsync(c => c.QuerySingleOrDefault<CustomerRow>(OneSql, new { userId, now = NowText() }), ct);

    private const string RolesSql = """
        SELECT r.Name FROM AspNetUserRoles AS ur JOIN AspNetRoles AS r ON r.Id = ur.RoleId WHERE ur.UserId = @userId ORDER BY r.Name;
        """;

    public Task<List<string>> RolesAsync(string userId, CancellationToken ct) =>
        db.ReadAsync(c => c.Query<string>(RolesSql, new { userId }).AsList(), ct);

    public bool IsAdmin(IReadOnlyList<string> roles) => roles.Contains(Roles.Admin);

    public sealed record LedgerLine(long Id, DateTime CreatedAt, string Bucket, string Kind, long Amount, long BalanceAfter, string Reason, string? Reference, string Actor);

    private const string RecentLedgerSql = """
        SELECT id, created_at AS CreatedAt, bucket, kind, amount, balance_after AS BalanceAfter, reason, reference, actor
        FROM credit_ledger
        WHERE user_id = @userId
        ORDER BY id DESC
        LIMIT @lines;
        """;

    /// <summary>The newest ledger lines: one seek backwards on <c>ix_credit_ledger_user</c>.</summary>
    public Task<List<LedgerLine>> RecentLedgerAsync(string userId, int lines, CancellationToken ct) =>
        db.ReadAsync(c => c.Query<LedgerLine>(RecentLedgerSql, new { userId, lines }).AsList(), ct);
}
