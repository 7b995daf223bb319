using System.Globalization;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary>One UTC day of a customer's activity: images made and money spent, per currency (minor units; refunds count negative).</summary>
public sealed record ActivityDay(DateOnly Day, long Generations, IReadOnlyDictionary<string, long> Spend);

/// <summary>The last <see cref="Activity.DayCount"/> days, oldest first, every day present (a quiet day is zeros).</summary>
public sealed record Activity(IReadOnlyList<ActivityDay> Days, IReadOnlyList<string> Currencies)
{
    public const int DayCount = 30;

    public long TotalGenerations => Days.Sum(d => d.Generations);

    public long TotalSpend(string currency) => Days.Sum(d => d.Spend.GetValueOrDefault(currency));
}

/// <summary>
/// Reads the dashboard chart's figures from the per-day tables that triggers keep as generations and payments are written
/// (<c>daily_generations</c>, <c>daily_spend</c>, migration 0054): at most 30 rows each, one seek on their primary keys,
/// whatever the size of the customer's history.
/// </summary>
public sealed class ActivityReader(Db db, TimeProvider clock)
{
    private const string GenerationsSql = """
        SELECT day, generations FROM daily_generations WHERE user_id = @userId AND day >= @from ORDER BY day;
        """;

    private const string SpendSql = """
        SELECT day, currency, amount_minor AS AmountMinor FROM daily_spend WHERE user_id = @userId AND day >= @from ORDER BY day, currency;
        """;

    public async Task<Activity> ReadAsync(string userId, CancellationToken ct = default)
    {
        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var first = today.AddDays(-(Activity.DayCount - 1));
        var from = first.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var (generations, spend) = await db.ReadAsync(c =>
        {
            var g = c.Query<(string Day, long Generations)>(GenerationsSql, new { userId, from }).ToDictionary(r => r.Day, r => r.Generations);
            var s = c.Query<(string Day, string Currency, long AmountMinor)>(SpendSql, new { userId, from }).AsList();
            return (g, s);
        }, ct);
        var currencies = spend.Select(s => s.Currency).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var days = new List<ActivityDay>(Activity.DayCount);
        for (var day = first; day <= today; day = day.AddDays(1))
        {
            var key = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            var spent = spend.Where(s => s.Day == key).ToDictionary(s => s.Currency, s => s.AmountMinor, StringComparer.Ordinal);
            days.Add(new ActivityDay(day, generations.GetValueOrDefault(key), spent));
        }
        return new Activity(days, currencies);
    }
}

/// <summary>
/// A bar chart drawn on the server as SVG: the bars' geometry in the chart's own coordinates, their values and labels. No
/// script draws it (the Content-Security-Policy allows none inline); each bar carries a <c>title</c> for screen readers and
/// tooltips, and the page shows the same figures as a table.
/// </summary>
public sealed record BarChart(string Id, string Title, string Description, IReadOnlyList<BarChart.Bar> Bars, double BaselineY, string MaxLabel)
{
    public const double Width = 600, Height = 150, PlotTop = 14, PlotBottom = 130, Left = 4, Gap = 2;

    public sealed record Bar(DateOnly Day, long Value, string Text, double X, double Y, double BarWidth, double BarHeight);

    /// <summary>Bars scaled to the largest value (and the most negative one, drawn below the baseline).</summary>
    public static BarChart Of(string id, string title, string description, IReadOnlyList<(DateOnly Day, long Value)> values, Func<long, string> text)
    {
        var max = Math.Max(0, values.Count == 0 ? 0 : values.Max(v => v.Value));
        var min = Math.Min(0, values.Count == 0 ? 0 : values.Min(v => v.Value));
        var range = max - min == 0 ? 1 : (double)(max - min);
        var plot = PlotBottom - PlotTop;
        var baseline = PlotTop + plot * max / range;
        var barWidth = values.Count == 0 ? 0 : (Width - Left * 2) / values.Count - Gap;
        var bars = values.Select((v, i) =>
        {
            var h = Math.Abs(v.Value) / range * plot;
            // A day with something, however small beside the largest, stays visible.
            if (v.Value != 0 && h < 1.5)
                h = 1.5;
            var y = v.Value >= 0 ? baseline - h : baseline;
            return new Bar(v.Day, v.Value, text(v.Value), Math.Round(Left + i * (barWidth + Gap), 2), Math.Round(y, 2), Math.Round(barWidth, 2), Math.Round(h, 2));
        }).ToList();
        return new BarChart(id, title, description, bars, Math.Round(baseline, 2), text(max));
    }

    public static string Coordinate(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);
}

/// <summary>The dashboard's two kinds of chart over <see cref="Activity"/>: images per day, and spend per day in each currency.</summary>
public static class ActivityCharts
{
    public static BarChart Generations(Activity activity) =>
        BarChart.Of("chart-generations", "Images per day, last 30 days",
            $"{Images(activity.TotalGenerations)} in the last {Activity.DayCount} days.",
            activity.Days.Select(d => (d.Day, d.Generations)).ToList(),
            Images);

    private static string Images(long count) => count == 1 ? "1 image" : $"{count} images";

    public static BarChart Spend(Activity activity, string currency) =>
        BarChart.Of($"chart-spend-{currency}", $"Spend per day in {currency.ToUpperInvariant()}, last 30 days",
            $"{Money.Format(activity.TotalSpend(currency), currency)} in the last {Activity.DayCount} days, refunds taken off.",
            activity.Days.Select(d => (d.Day, d.Spend.GetValueOrDefault(currency))).ToList(),
            v => Money.Format(v, currency));
}
