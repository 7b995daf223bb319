using System.Globalization;
using System.Text;
using Dapper;
using GenSaaS.Web.Data;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Admin;

/// <summary>One thing that happened to an account. <see cref="Kind"/>: signup, signin, email, ledger_line, payment, auto_top_up, generation, webhook_event, admin_action.</summary>
public sealed record TimelineItem(DateTime At, string Kind, string Id, string Title, string? Detail);

/// <summary>A page of the timeline, newest first; <see cref="Next"/> is the cursor of the next (older) page when there is one.</summary>
public sealed record TimelinePage(IReadOnlyList<TimelineItem> Items, bool HasMore, string? Next);

/// <summary>
/// A customer's timeline: sign-up, sign-ins, emails sent, ledger lines, payments, auto top-ups (charged, failed or skipped),
/// generations, the webhook events about their Stripe objects and the admin actions on them, merged newest first. Each source is read on its own index from its own position, one row more than the page,
/// and merged k-way; the cursor carries every source's position, so a page costs the same at any depth (a customer with a
/// million ledger lines included) and rows arriving meanwhile never shift one.
/// </summary>
public sealed class CustomerTimeline(Db db)
{
    public const string CursorPrefix = "tl_";

    private const string SignupSql = """
        SELECT created_at FROM account_signups WHERE user_id = @userId;
        """;

    private const string LedgerSql = """
        SELECT id, created_at, kind, amount, bucket, balance_after, reason, actor
        FROM credit_ledger
        WHERE user_id = @userId AND id < @beforeId
        ORDER BY id DESC
        LIMIT @take;
        """;

    private const string PaymentsSql = """
        SELECT id, created_at, kind, amount_minor, currency, status, credits, stripe_id
        FROM payments
        WHERE user_id = @userId AND (created_at, id) < (@beforeAt, @beforeKey)
        ORDER BY created_at DESC, id DESC
        LIMIT @take;
        """;

    // Each auto top-up the balance crossing started, whatever became of it (charged, failed, or canceled before Stripe).
    private const string AutoTopUpsSql = """
        SELECT id, created_at, status, credits, amount_minor, currency, threshold, balance, error_code, error, turned_off
        FROM auto_top_ups
        WHERE user_id = @userId AND (created_at, id) < (@beforeAt, @beforeKey)
        ORDER BY created_at DESC, id DESC
        LIMIT @take;
        """;

    private const string GenerationsSql = """
        SELECT id, created_at, prompt, width, height
        FROM generations
        WHERE user_id = @userId AND (created_at, id) < (@beforeAt, @beforeKey)
        ORDER BY created_at DESC, id DESC
        LIMIT @take;
        """;

    // The events about the customer's Stripe objects, linked to the customer as they are stored (customer_events, migration 0056).
    private const string EventsSql = """
        SELECT e.id, e.received_at, e.type, e.object_id, e.status
        FROM customer_events AS c
        JOIN stripe_events AS e ON e.id = c.event_id
        WHERE c.user_id = @userId AND (c.received_at, c.event_id) < (@beforeAt, @beforeKey)
        ORDER BY c.received_at DESC, c.event_id DESC
        LIMIT @take;
        """;

    // Every sign-in made a server-side session (password, magic link or an external login), signed out or not (migration 0073).
    private const string SignInsSql = """
        SELECT id, created_at, ip, user_agent, revoked_at
        FROM user_sessions
        WHERE user_id = @userId AND (created_at, id) < (@beforeAt, @beforeKey)
        ORDER BY created_at DESC, id DESC
        LIMIT @take;
        """;

    // Every email sent to the account, written once the relay took it (Mailer, migration 0073).
    private const string EmailsSql = """
        SELECT id, sent_at, kind, subject, sent_to
        FROM email_log
        WHERE user_id = @userId AND id < @beforeId
        ORDER BY id DESC
        LIMIT @take;
        """;

    // Reads through the admin API name the customer they read (the audit log can say who looked), but are not actions on them.
    private const string AdminSql = """
        SELECT id, at, actor, actor_kind, action, reason
        FROM audit_log
        WHERE target = @userId AND id < @beforeId AND action <> 'api.read'
        ORDER BY id DESC
        LIMIT @take;
        """;

    /// <summary>
    /// An item with the position at which its source would start again with this very item (an exclusive upper bound just above
    /// it: the id plus one, or the key with the lowest character appended).
    /// </summary>
    private sealed record Entry(TimelineItem Item, string StartHere);

    /// <summary>The position of a source with nothing left to show: anything it gets later is newer than every page already shown.</summary>
    private const string Done = "done";

    private static readonly string[] Sources = ["admin", "event", "payment", "auto_top_up", "ledger", "generation", "email", "signin", "signup"];

    /// <summary>A page of <paramref name="limit"/> items after <paramref name="cursor"/> (null: the newest); null when the cursor is not one of ours.</summary>
    public async Task<TimelinePage?> PageAsync(string userId, int limit, string? cursor, CancellationToken ct)
    {
        var positions = cursor is null ? new Dictionary<string, string>() : Decode(cursor);
        if (positions is null)
            return null;
        var take = limit + 1;
        var heads = await db.ReadAsync(c =>
        {
            using var tx = c.BeginTransaction(deferred: true);
            return Sources.ToDictionary(s => s, s => new Queue<Entry>(Read(c, tx, s, userId, positions.GetValueOrDefault(s), take)));
        }, ct);

        // k-way merge: always take the head that happened last, so each source is consumed in its own order and none is skipped.
        var items = new List<TimelineItem>(limit);
        while (items.Count < limit)
        {
            var next = Sources.Where(s => heads[s].Count > 0).OrderByDescending(s => heads[s].Peek().Item.At).FirstOrDefault();
            if (next is null)
                break;
            items.Add(heads[next].Dequeue().Item);
        }
        // Every source resumes at its first item not shown, or never: so rows written after this page (all newer than it)
        // never appear on a later one, even in a source this page took nothing from.
        foreach (var source in Sources)
            positions[source] = heads[source].Count > 0 ? heads[source].Peek().StartHere : Done;
        var hasMore = heads.Values.Any(q => q.Count > 0);
        return new TimelinePage(items, hasMore, hasMore ? Encode(positions) : null);
    }

    private static IEnumerable<Entry> Read(SqliteConnection c, SqliteTransaction tx, string source, string userId, string? position, int take)
    {
        if (position == Done)
            return [];
        var (beforeAt, beforeKey) = SplitPosition(position);
        var beforeId = long.TryParse(position, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : long.MaxValue;
        switch (source)
        {
            case "signup":
                var at = c.ExecuteScalar<string?>(SignupSql, new { userId }, tx);
                return at is null ? [] : [new Entry(new TimelineItem(Db.ParseTime(at), "signup", userId, "Signed up", null), "pending")];
            case "ledger":
                return c.Query<(long Id, string CreatedAt, string Kind, long Amount, string Bucket, long BalanceAfter, string Reason, string Actor)>(
                        LedgerSql, new { userId, beforeId, take }, tx)
                    .Select(r => new Entry(new TimelineItem(Db.ParseTime(r.CreatedAt), "ledger_line", $"cl_{r.Id}",
                        $"{r.Kind} {r.Amount.ToString("+#;-#;0", CultureInfo.InvariantCulture)} {r.Bucket} credit(s), balance {r.BalanceAfter}",
                        $"{r.Reason} (by {r.Actor})"), Above(r.Id)));
            case "payment":
                return c.Query<(long Id, string CreatedAt, string Kind, long AmountMinor, string Currency, string Status, long? Credits, string StripeId)>(
                        PaymentsSql, new { userId, beforeAt, beforeKey = beforeKey is null ? long.MaxValue : long.Parse(beforeKey, CultureInfo.InvariantCulture), take }, tx)
                    .Select(r => new Entry(new TimelineItem(Db.ParseTime(r.CreatedAt), "payment", $"pay_{r.Id}",
                        $"{r.Kind.Replace('_', ' ')} {Money(r.AmountMinor, r.Currency)} {r.Status}" + (r.Credits is { } n ? $", {n} credit(s)" : ""),
                        r.StripeId), $"{r.CreatedAt}|{Above(r.Id)}"));
            case "auto_top_up":
                return c.Query<(long Id, string CreatedAt, string Status, long Credits, long AmountMinor, string Currency, long Threshold, long Balance,
                        string? ErrorCode, string? Error, bool TurnedOff)>(
                        AutoTopUpsSql, new { userId, beforeAt, beforeKey = beforeKey is null ? long.MaxValue : long.Parse(beforeKey, CultureInfo.InvariantCulture), take }, tx)
                    .Select(r => new Entry(new TimelineItem(Db.ParseTime(r.CreatedAt), "auto_top_up", $"atu_{r.Id}",
                        $"Auto top-up {r.Status}: {r.Credits} credit(s) for {Money(r.AmountMinor, r.Currency)}",
                        $"balance {r.Balance} crossed {r.Threshold}" + (r.Error is { } error ? $"; {r.ErrorCode}: {error}" : "") + (r.TurnedOff ? "; auto top-up turned off" : "")),
                        $"{r.CreatedAt}|{Above(r.Id)}"));
            case "generation":
                return c.Query<(string Id, string CreatedAt, string Prompt, long Width, long Height)>(
                        GenerationsSql, new { userId, beforeAt, beforeKey = beforeKey ?? "", take }, tx)
                    .Select(r => new Entry(new TimelineItem(Db.ParseTime(r.CreatedAt), "generation", r.Id,
                        $"Generated {r.Width}×{r.Height}", r.Prompt.Length > 120 ? r.Prompt[..120] + "…" : r.Prompt), $"{r.CreatedAt}|{Above(r.Id)}"));
            case "event":
                return c.Query<(string Id, string ReceivedAt, string Type, string? ObjectId, string Status)>(
                        EventsSql, new { userId, beforeAt, beforeKey = beforeKey ?? "", take }, tx)
                    .Select(r => new Entry(new TimelineItem(Db.ParseTime(r.ReceivedAt), "webhook_event", r.Id,
                        $"Stripe {r.Type} ({r.Status})", r.ObjectId), $"{r.ReceivedAt}|{Above(r.Id)}"));
            case "signin":
                return c.Query<(string Id, string CreatedAt, string? Ip, string? UserAgent, string? RevokedAt)>(
                        SignInsSql, new { userId, beforeAt, beforeKey = beforeKey ?? "", take }, tx)
                    .Select(r => new Entry(new TimelineItem(Db.ParseTime(r.CreatedAt), "signin", r.Id,
                        r.RevokedAt is null ? "Signed in" : "Signed in (session since ended)", SignInDetail(r.Ip, r.UserAgent)),
                        $"{r.CreatedAt}|{Above(r.Id)}"));
            case "email":
                return c.Query<(long Id, string SentAt, string Kind, string Subject, string SentTo)>(
                        EmailsSql, new { userId, beforeId, take }, tx)
                    .Select(r => new Entry(new TimelineItem(Db.ParseTime(r.SentAt), "email", $"em_{r.Id}",
                        $"Email sent: {r.Subject}", $"{r.Kind} to {r.SentTo}"), Above(r.Id)));
            case "admin":
                return c.Query<(long Id, string At, string Actor, string ActorKind, string Action, string? Reason)>(
                        AdminSql, new { userId, beforeId, take }, tx)
                    .Select(r => new Entry(new TimelineItem(Db.ParseTime(r.At), "admin_action", $"{AuditLog.IdPrefix}{r.Id}",
                        $"{r.Action} by {r.Actor} ({r.ActorKind})", r.Reason), Above(r.Id)));
            default:
                throw new ArgumentOutOfRangeException(nameof(source), source, null);
        }
    }

    private static string? SignInDetail(string? ip, string? userAgent)
    {
        var agent = userAgent is { Length: > 120 } ? userAgent[..120] + "…" : userAgent;
        var parts = new[] { ip, agent }.Where(p => !string.IsNullOrEmpty(p)).ToArray();
        return parts.Length == 0 ? null : string.Join(", ", parts);
    }

    private static string Above(long id) => (id + 1).ToString(CultureInfo.InvariantCulture);

    /// <summary>The least text greater than <paramref name="key"/>: the key with the lowest character appended.</summary>
    private static string Above(string key) => key + "\u0001";

    /// <summary>A (time, key) position, or the top ("9999…" sorts after every stored time).</summary>
    private static (string BeforeAt, string? BeforeKey) SplitPosition(string? position) =>
        position?.Split('|', 2) is [var at, var key] ? (at, key) : ("9999-12-31 23:59:59.9999999", null);

    public static string Money(long minor, string currency) =>
        $"{(minor / 100m).ToString("0.00", CultureInfo.InvariantCulture)} {currency.ToUpperInvariant()}";

    private static string Encode(Dictionary<string, string> positions)
    {
        var text = string.Join('\n', positions.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));
        return CursorPrefix + Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>The positions in a cursor, or null when it is not a cursor this class made (malformed, or from another list).</summary>
    private static Dictionary<string, string>? Decode(string cursor)
    {
        if (!cursor.StartsWith(CursorPrefix, StringComparison.Ordinal) || cursor.Length > 2000)
            return null;
        var body = cursor[CursorPrefix.Length..].Replace('-', '+').Replace('_', '/');
        body = body.PadRight(body.Length + (4 - body.Length % 4) % 4, '=');
        string text;
        try
        {
            text = Encoding.UTF8.GetString(Convert.FromBase64String(body));
        }
        catch (FormatException)
        {
            return null;
        }
        var positions = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Split('=', 2) is not [var source, var value] || !Sources.Contains(source) || !Valid(source, value))
                return null;
            positions[source] = value;
        }
        return positions;
    }

    private static bool Valid(string source, string value) => value == Done || source switch
    {
        "signup" => value == "pending",
        "ledger" or "admin" or "email" => long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _),
        "payment" or "auto_top_up" => value.Split('|', 2) is [var at, var key] && DateTime.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.None, out _)
                     && long.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out _),
        _ => value.Split('|', 2) is [var at2, var key2] && DateTime.TryParse(at2, CultureInfo.InvariantCulture, DateTimeStyles.None, out _) && key2.Length > 0,
    };
}
