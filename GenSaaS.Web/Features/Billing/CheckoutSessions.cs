using System.Text.RegularExpressions;
using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// The Checkout Sessions this app started, by customer. The success page takes its <c>session_id</c> from the address bar,
/// so it asks Stripe only about one of these: well-formed, the signed-in customer's own, and still pending.
/// </summary>
public sealed partial class CheckoutSessions(Db db, TimeProvider clock)
{
    public enum State { Pending, Complete, Expired }

    /// <summary>The shape of a Checkout Session id: <c>cs_test_</c> or <c>cs_live_</c> and letters and digits, not overly long.</summary>
    [GeneratedRegex("^cs_(test|live)_[A-Za-z0-9]{8,200}$", RegexOptions.CultureInvariant)]
    private static partial Regex IdShape();

    public static bool IsWellFormedId(string? id) => id is not null && IdShape().IsMatch(id);

    private const string InsertSql = """
        INSERT INTO checkout_sessions (id, user_id, mode, plan_key, status, created_at, updated_at)
        VALUES (@id, @userId, @mode, @planKey, 'pending', @now, @now)
        ON CONFLICT (id) DO NOTHING;
        """;

    public Task RecordAsync(string id, string userId, string mode, string planKey, CancellationToken ct) =>
        db.ExecuteAsync(InsertSql, new { id, userId, mode, planKey, now = clock.GetUtcNow().UtcDateTime }, ct);

    private const string StateSql = """
        SELECT status FROM checkout_sessions WHERE id = @id AND user_id = @userId;
        """;

    /// <summary>The state of this customer's own session, or null when it is not one of theirs (or not one of ours at all).</summary>
    public async Task<State?> StateAsync(string id, string userId, CancellationToken ct)
    {
        if (!IsWellFormedId(id))
            return null;
        await using var connection = await db.OpenAsync(ct);
        var status = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(StateSql, new { id, userId }, cancellationToken: ct));
        return status switch
        {
            "pending" => State.Pending,
            "complete" => State.Complete,
            "expired" => State.Expired,
            _ => null,
        };
    }

    private const string SetStateSql = """
        UPDATE checkout_sessions SET status = @status, updated_at = @now WHERE id = @id AND status = 'pending';
        """;

    /// <summary>Moves a pending session to <paramref name="state"/>; complete and expired are final. Returns the rows moved (0 or 1).</summary>
    public Task<int> SetStateAsync(string id, State state, CancellationToken ct) =>
        db.ExecuteAsync(SetStateSql, new { id, status = state.ToString().ToLowerInvariant(), now = clock.GetUtcNow().UtcDateTime }, ct);

    private const string PendingSubscriptionSql = """
        SELECT id FROM checkout_sessions
        WHERE user_id = @userId AND mode = 'subscription' AND status = 'pending' AND created_at > @since
        ORDER BY rowid DESC;
        """;

    /// <summary>The customer's subscription Checkout Sessions still pending from the last day (Stripe's default lifetime), newest recorded first.</summary>
    public async Task<IReadOnlyList<string>> PendingSubscriptionSessionsAsync(string userId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<string>(new CommandDefinition(PendingSubscriptionSql,
            new { userId, since = clock.GetUtcNow().UtcDateTime.AddDays(-1) }, cancellationToken: ct))).ToList();
    }
}
