using System.ComponentModel.DataAnnotations;
using System.Globalization;
using CsvHelper;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Accounts;
using Hangfire;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Billing.Admin;

/// <summary>
/// <c>/admin/reconciliation</c>: the latest reconciliation run (or the one in the address), its totals per currency and each
/// unmatched line with its customer, the history of runs, "Run now" for a period, and the lines as CSV.
/// </summary>
[Authorize(Policy = Roles.Admin)]
public sealed class Reconciliation(Db db, ReconciliationRuns runs, IBackgroundJobClient jobs, TimeProvider clock) : PageModel
{
    /// <summary>One line as the page shows it, with the customer's email.</summary>
    public sealed record LineRow(
        long Id, string Kind, string Object, string Currency, string? StripeId, string? AppReference, string? UserId, string? Email,
        long? StripeAmountMinor, long? AppAmountMinor, string? StripeState, string? AppState, string Detail);

    public sealed record RunInput
    {
        [Required, DataType(DataType.Date), Display(Name = "From")]
        public DateOnly? From { get; init; }

        [Required, DataType(DataType.Date), Display(Name = "To")]
        public DateOnly? To { get; init; }
    }

    [BindProperty]
    public RunInput Input { get; set; } = new();

    [TempData]
    public string? StatusMessage { get; set; }

    public ReconciliationRun? Run { get; private set; }

    public IReadOnlyList<ReconciliationTotals> Totals { get; private set; } = [];

    public IReadOnlyList<LineRow> Lines { get; private set; } = [];

    public IReadOnlyList<ReconciliationRun> History { get; private set; } = [];

    /// <summary>The newest runs shown in the history.</summary>
    public const int HistorySize = 30;

    private const string LinesSql = """
        SELECT l.id, l.kind, l.object, l.currency, l.stripe_id AS StripeId, l.app_reference AS AppReference, l.user_id AS UserId,
               u.Email AS Email, l.stripe_amount_minor AS StripeAmountMinor, l.app_amount_minor AS AppAmountMinor,
               l.stripe_state AS StripeState, l.app_state AS AppState, l.detail
        FROM reconciliation_lines AS l
        LEFT JOIN AspNetUsers AS u ON u.Id = l.user_id
        WHERE l.run_id = @id
        ORDER BY l.id;
        """;

    private async Task<List<LineRow>> LineRowsAsync(long id, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<LineRow>(new CommandDefinition(LinesSql, new { id }, cancellationToken: ct))).ToList();
    }

    public async Task<IActionResult> OnGetAsync(long? id, CancellationToken ct)
    {
        History = await runs.HistoryAsync(HistorySize, null, ct);
        Run = id is { } wanted ? await runs.FindAsync(wanted, ct) : History.FirstOrDefault();
        if (id is not null && Run is null)
            return NotFound();
        if (Run is not null)
        {
            Totals = await runs.TotalsAsync(Run.Id, ct);
            Lines = await LineRowsAsync(Run.Id, ct);
        }
        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        Input = new RunInput { From = today.AddDays(-1), To = today };
        return Page();
    }

    /// <summary>Queues a run over the chosen days and starts it in the background; the page of that run shows it once done.</summary>
    public async Task<IActionResult> OnPostRunAsync(CancellationToken ct)
    {
        if (ModelState.IsValid && Input.To < Input.From)
            ModelState.AddModelError($"{nameof(Input)}.{nameof(RunInput.To)}", "The period must not end before it starts.");
        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        if (ModelState.IsValid && (Input.From < today.AddDays(-366) || Input.To > today))
            ModelState.AddModelError($"{nameof(Input)}.{nameof(RunInput.From)}", "Choose days within the last year, up to today.");
        if (!ModelState.IsValid)
        {
            History = await runs.HistoryAsync(HistorySize, null, ct);
            Run = History.FirstOrDefault();
            if (Run is not null)
            {
                Totals = await runs.TotalsAsync(Run.Id, ct);
                Lines = await LineRowsAsync(Run.Id, ct);
            }
            return Page();
        }
        var runId = await runs.QueueAsync(Input.From!.Value, Input.To!.Value, ReconciliationRuns.Triggers.Admin, User.Identity?.Name, ct);
        jobs.Enqueue<ReconciliationJob>(job => job.RunAsync(runId, CancellationToken.None));
        StatusMessage = $"Reconciliation run {runId} for {Input.From:yyyy-MM-dd} to {Input.To:yyyy-MM-dd} started; reload this page to see its result.";
        return RedirectToPage(new { id = runId });
    }

    /// <summary>The run's unmatched lines as CSV (one row per line, amounts in minor units).</summary>
    public async Task<IActionResult> OnGetCsvAsync(long id, CancellationToken ct)
    {
        if (await runs.FindAsync(id, ct) is not { } run)
            return NotFound();
        var lines = await LineRowsAsync(run.Id, ct);
        using var buffer = new MemoryStream();
        await using (var csv = CsvWriter.Create(buffer, new CsvWriterOptions { Injection = CsvInjection.Escape }, leaveOpen: true))
        {
            await csv.WriteRecordAsync(["run", "kind", "object", "currency", "stripe_id", "app_reference", "user_id", "email",
                "stripe_amount_minor", "app_amount_minor", "stripe_state", "app_state", "detail"], ct);
            var runId = run.Id.ToString(CultureInfo.InvariantCulture);
            foreach (var line in lines)
                await csv.WriteRecordAsync([runId, line.Kind, line.Object, line.Currency, line.StripeId, line.AppReference, line.UserId, line.Email,
                    line.StripeAmountMinor?.ToString(CultureInfo.InvariantCulture), line.AppAmountMinor?.ToString(CultureInfo.InvariantCulture),
                    line.StripeState, line.AppState, line.Detail], ct);
            await csv.FlushAsync(ct);
        }
        return File(buffer.ToArray(), "text/csv; charset=utf-8", $"reconciliation-{run.Id}-{run.FirstDay:yyyy-MM-dd}-{run.LastDay:yyyy-MM-dd}.csv");
    }

    public static string Money(long? minor, string currency) =>
        minor is { } amount ? (amount / 100m).ToString("0.00", CultureInfo.InvariantCulture) + " " + currency.ToUpperInvariant() : "";
}
