using System.ComponentModel.DataAnnotations;
using System.Net.Http.Json;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Emails;
using Hangfire;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Operations;

/// <summary>The <c>Operations:Alerts</c> section.</summary>
public sealed class AlertOptions
{
    /// <summary>Slack-compatible incoming webhook each alert is posted to as JSON when it opens and resolves; empty = none.</summary>
    [Url] public string? WebhookUrl { get; set; }

    /// <summary>Share of answers that are server errors (5xx), in percent over the last five minutes, that opens an alert.</summary>
    [Range(0.1, 100)] public double ErrorRatePercent { get; set; } = 5;

    /// <summary>Requests the last five minutes must hold before the error rate is judged (a quiet server's one 500 is not a trend).</summary>
    [Range(1, 1_000_000)] public int ErrorRateMinRequests { get; set; } = 20;

    /// <summary>Free space of the data folder's disk, in percent, below which an alert opens.</summary>
    [Range(0, 100)] public double MinFreeDiskPercent { get; set; } = 5;

    /// <summary>A pay-per-use hold this close to Stripe's deadline (hours) is an alert: the watchdog settles them a day before.</summary>
    [Range(1, 96)] public int HoldHoursBeforeExpiry { get; set; } = 20;
}

/// <summary>One condition that holds now: which rule, about what, and what the operator reads.</summary>
public sealed record AlertCondition(string Rule, string Subject, string Title, string Detail, string? Link);

/// <summary>An alert as stored and shown.</summary>
public sealed record AlertRow(long Id, string Rule, string Subject, string Title, string Detail, string? Link, DateTime OpenedAt, DateTime? ResolvedAt);

/// <summary>Answers in the last five minutes, for the error-rate rule; counted by the request-metrics middleware.</summary>
public sealed class ErrorRateWindow(TimeProvider clock)
{
    private const int Minutes = 5;
    private readonly long[] _total = new long[Minutes];
    private readonly long[] _errors = new long[Minutes];
    private readonly long[] _minute = new long[Minutes];
    private readonly Lock _lock = new();

    public void Record(int status)
    {
        var minute = clock.GetUtcNow().ToUnixTimeSeconds() / 60;
        lock (_lock)
        {
            var slot = (int)(minute % Minutes);
            if (_minute[slot] != minute)
            {
                _minute[slot] = minute;
                _total[slot] = 0;
                _errors[slot] = 0;
            }
            _total[slot]++;
            if (status >= 500)
                _errors[slot]++;
        }
    }

    public (long Total, long Errors) LastFiveMinutes()
    {
        var now = clock.GetUtcNow().ToUnixTimeSeconds() / 60;
        lock (_lock)
        {
            long total = 0, errors = 0;
            for (var i = 0; i < Minutes; i++)
                if (now - _minute[i] < Minutes)
                {
                    total += _total[i];
                    errors += _errors[i];
                }
            return (total, errors);
        }
    }
}

/// <summary>
/// The alert rules and their lifecycle: every minute the rules say what holds now; a condition not yet open opens an alert,
/// an open alert whose condition is gone resolves. Each opening and each resolution is emailed once to every admin and
/// posted once to <c>Operations:Alerts:WebhookUrl</c>. Open alerts are listed on <c>/admin</c>.
/// </summary>
public sealed class Alerts(
    Db db,
    JobStorage jobs,
    AppPaths paths,
    ErrorRateWindow errorRate,
    Mailer mailer,
    EmailLinks links,
    UserManager<IdentityUser> users,
    IHttpClientFactory http,
    IOptionsMonitor<AlertOptions> options,
    TimeProvider clock,
    ILogger<Alerts> logger)
{
    public const string RecurringId = "operations-alerts";

    private const string FailedWebhooksSql = """
        SELECT id, type, coalesce(last_error, '') FROM stripe_events WHERE status = 'failed' ORDER BY received_at LIMIT 200;
        """;

    private const string HoldsNearExpirySql = """
        SELECT c.usage_id, coalesce(c.payment_intent_id, ''), coalesce(c.capture_before, datetime(c.created_at, '+114 hours'))
        FROM usage_charges AS c
        WHERE c.state IN ('pending', 'authorised')
          AND coalesce(c.capture_before, datetime(c.created_at, '+114 hours')) < @deadline
        LIMIT 200;
        """;

    // A capture Stripe did not answer (the hold is still authorised, its error kept), or one that ended unpaid this week.
    private const string FailedCapturesSql = """
        SELECT c.usage_id, coalesce(c.error, '')
        FROM usage_charges AS c JOIN usage AS u ON u.id = c.usage_id
        WHERE u.state = 'succeeded'
          AND ((c.state = 'authorised' AND c.error IS NOT NULL) OR (c.state IN ('failed', 'canceled') AND c.updated_at >= @weekAgo))
        LIMIT 200;
        """;

    private const string LatestReconciliationSql = """
        SELECT id, status, differences, coalesce(error, '') FROM reconciliation_runs
        WHERE status IN ('matched', 'differences', 'failed') ORDER BY id DESC LIMIT 1;
        """;

    /// <summary>Every condition that holds now.</summary>
    public async Task<List<AlertCondition>> EvaluateAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var settings = options.CurrentValue;
        var found = new List<AlertCondition>();
        await using (var connection = await db.OpenAsync(ct))
        {
            foreach (var (id, type, error) in await connection.QueryAsync<(string, string, string)>(new CommandDefinition(FailedWebhooksSql, cancellationToken: ct)))
                found.Add(new("webhook_failed", id, $"Stripe event {type} failed to apply", $"{id}: {Short(error)}", EventLink(id)));

            var deadline = now.AddHours(settings.HoldHoursBeforeExpiry);
            foreach (var (usageId, intent, before) in await connection.QueryAsync<(string, string, string)>(new CommandDefinition(HoldsNearExpirySql, new { deadline }, cancellationToken: ct)))
                found.Add(new("hold_near_expiry", usageId, "A pay-per-use hold is close to Stripe's deadline",
                    $"Hold {intent} of usage {usageId} is still open; Stripe cancels it at {before} UTC and the generation goes unpaid.", "/admin/billing/captures"));

            foreach (var (usageId, error) in await connection.QueryAsync<(string, string)>(new CommandDefinition(FailedCapturesSql, new { weekAgo = now.AddDays(-7) }, cancellationToken: ct)))
                found.Add(new("capture_failed", usageId, "A pay-per-use capture failed", $"Usage {usageId}: {Short(error)}", "/admin/billing/captures"));

            var run = await connection.QuerySingleOrDefaultAsync<(long Id, string Status, long Differences, string Error)?>(new CommandDefinition(LatestReconciliationSql, cancellationToken: ct));
            if (run is { Status: "differences" } differing)
                found.Add(new("reconciliation", "", "Reconciliation with Stripe found differences",
                    $"Run {differing.Id}: {differing.Differences} line(s) do not match.", $"/admin/reconciliation"));
            else if (run is { Status: "failed" } failed)
                found.Add(new("reconciliation", "", "Reconciliation with Stripe could not run", $"Run {failed.Id}: {Short(failed.Error)}", "/admin/reconciliation"));
        }

        var failedJobs = jobs.GetMonitoringApi().GetStatistics().Failed;
        if (failedJobs > 0)
            found.Add(new("job_failed", "", $"{failedJobs} background job(s) failed", "Failed jobs wait on the jobs dashboard for a retry or deletion.", "/hangfire/jobs/failed"));

        var (total, errors) = errorRate.LastFiveMinutes();
        if (total >= settings.ErrorRateMinRequests && errors * 100.0 / total >= settings.ErrorRatePercent)
            found.Add(new("error_rate", "", "Server errors above the threshold",
                $"{errors} of {total} answers in the last five minutes were 5xx ({errors * 100.0 / total:0.#} %, threshold {settings.ErrorRatePercent} %).", "/hangfire"));

        var drive = new DriveInfo(paths.DataDir);
        var freePercent = drive.TotalSize > 0 ? drive.AvailableFreeSpace * 100.0 / drive.TotalSize : 100;
        if (freePercent < settings.MinFreeDiskPercent)
            found.Add(new("disk_space", "", "The data folder's disk is almost full",
                $"{drive.AvailableFreeSpace / (1024 * 1024)} MiB free of {drive.TotalSize / (1024 * 1024)} MiB ({freePercent:0.#} %, threshold {settings.MinFreeDiskPercent} %).", null));
        return found;
    }

    /// <summary>The admin page of one stored Stripe event (<c>/admin/billing/events/{id}</c>): its payload, error and Replay.</summary>
    public static string EventLink(string eventId) => "/admin/billing/events/" + Uri.EscapeDataString(eventId);

    private static string Short(string text) => text.Length <= 300 ? text : text[..300] + "…";

    private const string OpenSql = """
        INSERT INTO alerts (rule, subject, title, detail, link, opened_at) VALUES (@Rule, @Subject, @Title, @Detail, @Link, @now)
        ON CONFLICT (rule, subject) WHERE resolved_at IS NULL DO UPDATE SET link = excluded.link WHERE alerts.link IS NOT excluded.link;
        """;

    private const string OpenListSql = "SELECT id, rule, subject FROM alerts WHERE resolved_at IS NULL;";

    private const string ResolveSql = "UPDATE alerts SET resolved_at = @now WHERE id = @id AND resolved_at IS NULL;";

    /// <summary>Opens what newly holds, resolves what no longer does, then sends what has not been sent. Returns the open alerts.</summary>
    public async Task<IReadOnlyList<AlertRow>> RunAsync(CancellationToken ct)
    {
        var conditions = await EvaluateAsync(ct);
        var now = clock.GetUtcNow().UtcDateTime;
        await db.WriteAsync((connection, tx) =>
        {
            foreach (var condition in conditions)
                connection.Execute(OpenSql, new { condition.Rule, condition.Subject, condition.Title, condition.Detail, condition.Link, now }, tx);
            var holding = conditions.Select(c => (c.Rule, c.Subject)).ToHashSet();
            foreach (var (id, rule, subject) in connection.Query<(long, string, string)>(OpenListSql, transaction: tx).ToList())
                if (!holding.Contains((rule, subject)))
                    connection.Execute(ResolveSql, new { id, now }, tx);
            return 0;
        }, ct);
        await NotifyAsync(ct);
        return await OpenAsync(ct);
    }

    private const string UnsentSql = """
        SELECT id, rule, subject, title, detail, link, opened_at AS OpenedAt, resolved_at AS ResolvedAt FROM alerts
        WHERE opened_posted_at IS NULL OR (resolved_at IS NOT NULL AND resolved_posted_at IS NULL)
        ORDER BY id LIMIT 100;
        """;

    private const string PostedSql = """
        UPDATE alerts SET opened_posted_at = coalesce(opened_posted_at, @now),
                          resolved_posted_at = CASE WHEN resolved_at IS NOT NULL THEN coalesce(resolved_posted_at, @now) END
        WHERE id = @id;
        """;

    /// <summary>
    /// Emails each admin once per opening and once per resolution (<see cref="Mailer.SendOnceAsync{TEmail}"/> keyed by the alert
    /// and the admin), and posts each to the webhook; what failed is tried again on the next run.
    /// </summary>
    private async Task NotifyAsync(CancellationToken ct)
    {
        List<AlertRow> unsent;
        await using (var connection = await db.OpenAsync(ct))
            unsent = (await connection.QueryAsync<AlertRow>(new CommandDefinition(UnsentSql, cancellationToken: ct))).ToList();
        if (unsent.Count == 0)
            return;
        var admins = await users.GetUsersInRoleAsync(Roles.Admin);
        var baseUrl = links.BaseUrl;
        foreach (var alert in unsent)
        {
            try
            {
                var link = alert.Link is null ? baseUrl + "/admin" : baseUrl + alert.Link;
                foreach (var admin in admins)
                {
                    await mailer.SendOnceAsync($"{alert.Id}:{admin.Id}", admin.Id,
                        _ => Task.FromResult<AlertOpened?>(new AlertOpened(alert.Title, alert.Detail, alert.OpenedAt.ToString("yyyy-MM-dd HH:mm"), link)), ct);
                    if (alert.ResolvedAt is { } resolved)
                        await mailer.SendOnceAsync($"{alert.Id}:{admin.Id}", admin.Id,
                            _ => Task.FromResult<AlertResolved?>(new AlertResolved(alert.Title, alert.OpenedAt.ToString("yyyy-MM-dd HH:mm"), resolved.ToString("yyyy-MM-dd HH:mm"), link)), ct);
                }
                await PostAsync(alert, link, ct);
                await db.ExecuteAsync(PostedSql, new { id = alert.Id, now = clock.GetUtcNow().UtcDateTime }, ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Alert {AlertId} ({AlertRule}) could not be sent; tried again next minute", alert.Id, alert.Rule);
            }
        }
    }

    /// <summary>Slack's incoming-webhook shape (<c>text</c>) plus the alert's fields for other receivers.</summary>
    private async Task PostAsync(AlertRow alert, string link, CancellationToken ct)
    {
        if (options.CurrentValue.WebhookUrl is not { Length: > 0 } url)
            return;
        var state = alert.ResolvedAt is null ? "opened" : "resolved";
        using var client = http.CreateClient(nameof(Alerts));
        client.Timeout = TimeSpan.FromSeconds(10);
        using var response = await client.PostAsJsonAsync(url, new
        {
            text = $"[GenSaaS] {(alert.ResolvedAt is null ? "Alert" : "Resolved")}: {alert.Title} — {alert.Detail} <{link}>",
            alert = new { id = alert.Id, rule = alert.Rule, subject = alert.Subject, state, title = alert.Title, detail = alert.Detail, link, opened_at = alert.OpenedAt, resolved_at = alert.ResolvedAt },
        }, ct);
        response.EnsureSuccessStatusCode();
    }

    private const string OpenAlertsSql = """
        SELECT id, rule, subject, title, detail, link, opened_at AS OpenedAt, resolved_at AS ResolvedAt FROM alerts
        WHERE resolved_at IS NULL ORDER BY opened_at DESC, id DESC LIMIT 100;
        """;

    public async Task<IReadOnlyList<AlertRow>> OpenAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<AlertRow>(new CommandDefinition(OpenAlertsSql, cancellationToken: ct))).ToList();
    }
}

/// <summary>Every minute: <see cref="Alerts.RunAsync"/>.</summary>
public sealed class AlertsJob(Alerts alerts)
{
    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(120)]
    public Task RunAsync(CancellationToken ct) => alerts.RunAsync(ct);
}
