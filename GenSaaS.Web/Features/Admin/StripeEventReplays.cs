using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing.Webhooks;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// How an admin's replay request ended. <see cref="Kind"/>: <c>replayed</c> (it ran now), <c>repeated</c> (this form had already
/// replayed the event: its outcome again, nothing run), <c>running</c> (a replay of the event is under way), <c>refused</c>
/// (the event is unknown or not failed: only failed events are replayed).
/// </summary>
public sealed record ReplayOutcome(string Kind, string Message, long? AuditId = null);

/// <summary>
/// An admin's replay of a failed Stripe event: the event goes through the normal apply path again
/// (<see cref="StripeWebhooks.ReplayReportingAsync"/>) and the outcome says what the applier itself noted it changed, found
/// already so, or why it failed again. The request is claimed first by its form's token (made when the page was shown), in
/// a write transaction that also checks the event is still failed and no other replay of it is running: the same form sent
/// twice, or a second tab, replays once. When it ends, its outcome and its one audit entry (<c>stripe_event.replay</c>) are
/// written in one transaction.
/// </summary>
public sealed class StripeEventReplays(Db db, StripeWebhooks webhooks, AuditLog audit, TimeProvider clock, ILogger<StripeEventReplays> logger)
{
    public const string AuditAction = "stripe_event.replay";

    public const int MaxReasonLength = 500;

    /// <summary>A claim this old that never ended (the process stopped mid-replay) no longer blocks a new replay of its event.</summary>
    public static readonly TimeSpan StaleClaim = TimeSpan.FromMinutes(10);

    private sealed record EventState(string Status, long Attempts, string? LastError);

    private sealed record Claim(string EventId, string? Outcome);

    private const string FindClaimSql = """
        SELECT event_id AS EventId, outcome FROM stripe_event_replays WHERE token = @token;
        """;

    private const string EventStateSql = """
        SELECT status, attempts, last_error AS LastError FROM stripe_events WHERE id = @eventId;
        """;

    private const string RunningSql = """
        SELECT count(*) FROM stripe_event_replays WHERE event_id = @eventId AND finished_at IS NULL AND started_at > @staleBefore;
        """;

    private const string ClaimSql = """
        INSERT INTO stripe_event_replays (token, event_id, actor, reason, started_at) VALUES (@token, @eventId, @actor, @reason, @now);
        """;

    private const string FinishSql = """
        UPDATE stripe_event_replays SET finished_at = @now, status = @status, outcome = @outcome, audit_id = @auditId WHERE token = @token;
        """;

    public async Task<ReplayOutcome> ReplayAsync(AuditActor actor, string eventId, string reason, string token, CancellationToken ct = default)
    {
        reason = reason.Trim();
        if (reason.Length is 0 or > MaxReasonLength)
            throw new ArgumentException($"A reason of 1 to {MaxReasonLength} characters is required", nameof(reason));

        var now = clock.GetUtcNow().UtcDateTime;
        var (refusal, before) = await db.WriteAsync<(ReplayOutcome?, EventState?)>((c, tx) =>
        {
            if (c.QuerySingleOrDefault<Claim>(FindClaimSql, new { token }, tx) is { } mine)
                return (mine.EventId != eventId
                    ? new ReplayOutcome("refused", "This form was made for another event; nothing was replayed. Open the event again to replay it.")
                    : mine.Outcome is { } done
                        ? new ReplayOutcome("repeated", $"This replay was already done; nothing ran again. It said: {done}")
                        : new ReplayOutcome("running", "This replay is still running; reload the page in a moment to see what it changed."), null);
            if (c.QuerySingleOrDefault<EventState>(EventStateSql, new { eventId }, tx) is not { } state)
                return (new ReplayOutcome("refused", $"No Stripe event {eventId} is stored."), null);
            if (state.Status != "failed")
                return (new ReplayOutcome("refused", $"Nothing replayed: event {eventId} is {state.Status}, and only failed events can be replayed."), null);
            if (c.ExecuteScalar<long>(RunningSql, new { eventId, staleBefore = now - StaleClaim }, tx) > 0)
                return (new ReplayOutcome("running", $"Another replay of event {eventId} is running; reload the page in a moment to see what it changed."), null);
            c.Execute(ClaimSql, new { token, eventId, actor = actor.Id, reason, now }, tx);
            return (null, state);
        }, ct);
        if (refusal is not null)
            return refusal;

        // Claimed: from here the replay runs and its claim is ended whatever the browser does.
        StripeWebhooks.ReplayResult result;
        try
        {
            result = await webhooks.ReplayReportingAsync(eventId, CancellationToken.None);
        }
        catch (Exception ex) when (ex is SqliteException or TimeoutException or InvalidOperationException)
        {
            logger.LogError(ex, "Replay of Stripe event {StripeEventId} by {Actor} did not finish", eventId, actor.Id);
            result = new StripeWebhooks.ReplayResult("failed", ex.Message, [], []);
        }
        var message = Describe(eventId, result);
        var auditId = await db.WriteAsync((c, tx) =>
        {
            var after = c.QuerySingleOrDefault<EventState>(EventStateSql, new { eventId }, tx);
            var id = audit.Append(c, tx, actor, AuditAction, eventId, reason,
                new { before!.Status, before.Attempts, before.LastError },
                new { after?.Status, after?.Attempts, Outcome = message, result.Changed, result.Unchanged, result.Error });
            c.Execute(FinishSql, new { token, now = clock.GetUtcNow().UtcDateTime, status = result.Status, outcome = message, auditId = id }, tx);
            return id;
        }, CancellationToken.None);
        logger.LogInformation("Stripe event {StripeEventId} replayed by {Actor}: {Outcome}", eventId, actor.Id, message);
        return new ReplayOutcome("replayed", message, auditId);
    }

    /// <summary>What the replay did, in the applier's own notes.</summary>
    public static string Describe(string eventId, StripeWebhooks.ReplayResult result)
    {
        var changed = string.Join("; ", result.Changed);
        var unchanged = string.Join("; ", result.Unchanged);
        return result.Status switch
        {
            "failed" => $"Failed again: {FirstLine(result.Error)}" + (changed.Length > 0 ? $". Before failing it changed: {changed}" : ""),
            StripeWebhooks.ReplayResult.NotReplayed => $"Nothing changed: event {eventId} was already applied (by its retry schedule or another replay).",
            "ignored" => $"Nothing changed: this app does not act on this type of event; event {eventId} is now marked ignored.",
            _ when changed.Length > 0 => $"Applied: {changed}." + (unchanged.Length > 0 ? $" Already so: {unchanged}." : ""),
            _ => "Nothing changed: already applied" + (unchanged.Length > 0 ? $" ({unchanged})." : "."),
        };
    }

    private static string FirstLine(string? error)
    {
        if (string.IsNullOrWhiteSpace(error))
            return "no error was given";
        var line = error.Split('\n', 2)[0].Trim();
        return line.Length > 400 ? line[..400] + "…" : line;
    }
}
