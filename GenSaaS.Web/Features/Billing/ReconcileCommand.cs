using System.Globalization;
using System.Text.Json;
using GenSaaS.Web.Features.Operations;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// <c>GenSaaS.Web reconcile --from YYYY-MM-DD --to YYYY-MM-DD [--json]</c>: reconciles the UTC days from and to (both
/// included) with Stripe now, stores the run like any other, and exits 0 when everything matches, 3 when anything does
/// not, 1 when the run failed (Stripe unreachable) and 2 when billing is off.
/// </summary>
public sealed class ReconcileCommand(Reconciler reconciler, ReconciliationRuns runs, BillingModeInfo mode) : ICliCommand
{
    public const int ExitMatched = 0;
    public const int ExitFailed = 1;
    public const int ExitBillingDisabled = 2;
    public const int ExitDifferences = 3;

    public string Name => "reconcile";

    public string Usage => "reconcile --from YYYY-MM-DD --to YYYY-MM-DD [--json]    compare the app's payments with Stripe's for those UTC days (exit 0 all matched, 3 differences, 1 failed)";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var first = Day(args.Required("from"), "from");
        var last = Day(args.Required("to"), "to");
        if (last < first)
            throw new CliUsageException("--to must not be before --from");
        var json = args.Has("json");
        if (!mode.IsEnabled)
        {
            await output.WriteLineAsync("Billing is disabled: nothing to reconcile.");
            return ExitBillingDisabled;
        }

        var runId = await runs.QueueAsync(first, last, ReconciliationRuns.Triggers.Cli, Environment.UserName, ct);
        var run = (await reconciler.RunAsync(runId, ct))!;
        var lines = await runs.LinesAsync(runId, ct);
        var totals = await runs.TotalsAsync(runId, ct);
        if (json)
            await output.WriteLineAsync(JsonSerializer.Serialize(new
            {
                run = run.Id,
                from = run.FirstDay.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                to = run.LastDay.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                status = run.Status,
                matched = run.Matched,
                differences = run.Differences,
                eventsCaughtUp = run.EventsCaughtUp,
                error = run.Error,
                totals,
                lines,
            }, Json));
        else
        {
            await output.WriteLineAsync($"Reconciliation run {run.Id}, {run.FirstDay:yyyy-MM-dd} to {run.LastDay:yyyy-MM-dd}: {run.Status}"
                + (run.Error is null ? $", {run.Matched} matched, {run.Differences} differences, {run.EventsCaughtUp} missed events applied" : $": {run.Error}"));
            foreach (var total in totals)
                await output.WriteLineAsync($"  {total.Currency}: gross {total.GrossMinor}, refunds {total.RefundsMinor}, fees {total.FeesMinor}, net {total.NetMinor}, app revenue {total.AppRevenueMinor}, difference {total.DifferenceMinor} (minor units)");
            foreach (var line in lines)
                await output.WriteLineAsync($"  {line.Kind} {line.Object} {line.StripeId ?? line.AppReference}: {line.Detail}");
        }
        return run.Status switch
        {
            "matched" => ExitMatched,
            "differences" => ExitDifferences,
            _ => ExitFailed,
        };
    }

    private static DateOnly Day(string text, string name) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day)
            ? day
            : throw new CliUsageException($"--{name} must be a date as YYYY-MM-DD");
}
