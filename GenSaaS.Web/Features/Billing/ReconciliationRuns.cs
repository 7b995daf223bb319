using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// The stored runs (<c>reconciliation_runs</c>), their totals per currency (<c>reconciliation_totals</c>) and their
/// unmatched lines (<c>reconciliation_lines</c>). A run is <c>queued</c>, then <c>running</c>, then <c>matched</c>,
/// <c>differences</c> or <c>failed</c>; its lines and totals are written with its end in one transaction.
/// </summary>
public sealed class ReconciliationRuns(Db db, TimeProvider clock)
{
    /// <summary>Who asked for a run.</summary>
    public static class Triggers
    {
        public const string Schedule = "schedule";
        public const string Admin = "admin";
        public const string Cli = "cli";
    }

    private const string QueueSql = """
        INSERT INTO reconciliation_runs (period_from, period_to, trigger, requested_by, status, created_at)
        VALUES (@from, @to, @trigger, @requestedBy, 'queued', @now)
        RETURNING id;
        """;

    /// <summary>Queues a run over the UTC days <paramref name="first"/> to <paramref name="last"/>, both included.</summary>
    public Task<long> QueueAsync(DateOnly first, DateOnly last, string trigger, string? requestedBy, CancellationToken ct)
    {
        if (last < first)
            throw new ArgumentException("The period ends before it starts.", nameof(last));
        return db.WriteAsync((connection, tx) => connection.ExecuteScalar<long>(QueueSql, new
        {
            from = first.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc),
            to = last.AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc),
            trigger,
            requestedBy,
            now = clock.GetUtcNow().UtcDateTime,
        }, tx), ct);
    }

    private const string StartSql = """
        UPDATE reconciliation_runs SET status = 'running', started_at = @now WHERE id = @id AND status = 'queued';
        """;

    /// <summary>Claims a queued run; false when it was already started (a job running twice) or does not exist.</summary>
    public async Task<bool> StartAsync(long id, CancellationToken ct) =>
        await db.ExecuteAsync(StartSql, new { id, now = clock.GetUtcNow().UtcDateTime }, ct) == 1;

    private const string InsertLineSql = """
        INSERT INTO reconciliation_lines (run_id, kind, object, currency, stripe_id, app_reference, user_id,
                                          stripe_amount_minor, app_amount_minor, stripe_state, app_state, detail)
        VALUES (@runId, @Kind, @Object, @Currency, @StripeId, @AppReference, @UserId,
                @StripeAmountMinor, @AppAmountMinor, @StripeState, @AppState, @Detail);
        """;

    private const string InsertTotalsSql = """
        INSERT INTO reconciliation_totals (run_id, currency, gross_minor, refunds_minor, fees_minor, net_minor, app_revenue_minor,
                                           difference_minor, matched, differences)
        VALUES (@runId, @Currency, @GrossMinor, @RefundsMinor, @FeesMinor, @NetMinor, @AppRevenueMinor, @DifferenceMinor, @Matched, @Differences);
        """;

    private const string CompleteSql = """
        UPDATE reconciliation_runs
        SET status = CASE WHEN @differences = 0 THEN 'matched' ELSE 'differences' END,
            matched = @matched, differences = @differences, events_caught_up = @eventsCaughtUp, finished_at = @now
        WHERE id = @id AND status = 'running';
        """;

    public Task CompleteAsync(long id, int eventsCaughtUp, IReadOnlyList<ReconciliationLine> lines, IReadOnlyList<ReconciliationTotals> totals, int matched, CancellationToken ct) =>
        db.WriteAsync((connection, tx) =>
        {
            foreach (var line in lines)
                connection.Execute(InsertLineSql, new
                {
                    runId = id, line.Kind, line.Object, line.Currency, line.StripeId, line.AppReference, line.UserId,
                    line.StripeAmountMinor, line.AppAmountMinor, line.StripeState, line.AppState, line.Detail,
                }, tx);
            foreach (var total in totals)
                connection.Execute(InsertTotalsSql, new
                {
                    runId = id, total.Currency, total.GrossMinor, total.RefundsMinor, total.FeesMinor, total.NetMinor, total.AppRevenueMinor,
                    total.DifferenceMinor, total.Matched, total.Differences,
                }, tx);
            return connection.Execute(CompleteSql, new { id, matched, differences = lines.Count, eventsCaughtUp, now = clock.GetUtcNow().UtcDateTime }, tx);
        }, ct);

    private const string FailSql = """
        UPDATE reconciliation_runs SET status = 'failed', error = @error, finished_at = @now WHERE id = @id AND status IN ('queued', 'running');
        """;

    public Task FailAsync(long id, string error, CancellationToken ct) =>
        db.ExecuteAsync(FailSql, new { id, error, now = clock.GetUtcNow().UtcDateTime }, ct);

    private const string RunColumns = """
        id, period_from AS PeriodFrom, period_to AS PeriodTo, trigger, requested_by AS RequestedBy, status, matched, differences,
        events_caught_up AS EventsCaughtUp, error, created_at AS CreatedAt, started_at AS StartedAt, finished_at AS FinishedAt
        """;

    private const string FindSql = $"SELECT {RunColumns} FROM reconciliation_runs WHERE id = @id;";

    public async Task<ReconciliationRun?> FindAsync(long id, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<ReconciliationRun>(new CommandDefinition(FindSql, new { id }, cancellationToken: ct));
    }

    private const string HistorySql = $"""
        SELECT {RunColumns} FROM reconciliation_runs
        WHERE @before IS NULL OR id < @before
        ORDER BY id DESC
        LIMIT @limit;
        """;

    /// <summary>The newest runs first, <paramref name="limit"/> at a time, before the run id <paramref name="before"/> when given.</summary>
    public async Task<List<ReconciliationRun>> HistoryAsync(int limit, long? before, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<ReconciliationRun>(new CommandDefinition(HistorySql, new { limit, before }, cancellationToken: ct))).ToList();
    }

    private const string LinesSql = """
        SELECT l.kind, l.object, l.currency, l.stripe_id AS StripeId, l.app_reference AS AppReference, l.user_id AS UserId,
               l.stripe_amount_minor AS StripeAmountMinor, l.app_amount_minor AS AppAmountMinor, l.stripe_state AS StripeState,
               l.app_state AS AppState, l.detail
        FROM reconciliation_lines AS l
        WHERE l.run_id = @id
        ORDER BY l.id;
        """;

    public async Task<List<ReconciliationLine>> LinesAsync(long id, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<ReconciliationLine>(new CommandDefinition(LinesSql, new { id }, cancellationToken: ct))).ToList();
    }

    private const string TotalsSql = """
        SELECT currency, gross_minor AS GrossMinor, refunds_minor AS RefundsMinor, fees_minor AS FeesMinor, net_minor AS NetMinor,
               app_revenue_minor AS AppRevenueMinor, difference_minor AS DifferenceMinor, matched, differences
        FROM reconciliation_totals WHERE run_id = @id ORDER BY currency;
        """;

    public async Task<List<ReconciliationTotals>> TotalsAsync(long id, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<ReconciliationTotals>(new CommandDefinition(TotalsSql, new { id }, cancellationToken: ct))).ToList();
    }
}
