using System.Globalization;
using System.Text.RegularExpressions;
using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Tests.Features.Dashboard;

/// <summary>Rows written as the app writes them, on a chosen day, and small readers of the dashboard's HTML.</summary>
internal static class DashboardKit
{
    public static string Time(DateTime utc) => Db.FormatTime(utc);

    /// <summary>A finished generation made at <paramref name="at"/>, as GenerationService stores it.</summary>
    public static async Task InsertGenerationAsync(Db db, string userId, DateTime at, string prompt = "seeded")
    {
        await using var connection = await db.OpenAsync();
        await connection.ExecuteAsync("""
            INSERT INTO generations (id, user_id, prompt, seed, backend, width, height, duration_ms, created_at)
            VALUES (@id, @userId, @prompt, 1, 'null', 64, 64, 5, @at)
            """, new { id = Guid.CreateVersion7().ToString("N"), userId, prompt, at = Time(at) });
    }

    /// <summary>A payment row as Payments.RecordAsync writes it, recorded at <paramref name="at"/>.</summary>
    public static async Task InsertPaymentAsync(Db db, string userId, string kind, long amountMinor, string currency, string status, DateTime at,
        string? stripeId = null, string? receiptUrl = null)
    {
        await using var connection = await db.OpenAsync();
        await connection.ExecuteAsync("""
            INSERT INTO payments (user_id, kind, stripe_id, amount_minor, currency, status, receipt_url, created_at, updated_at)
            VALUES (@userId, @kind, @stripeId, @amountMinor, @currency, @status, @receiptUrl, @at, @at)
            """, new { userId, kind, stripeId = stripeId ?? $"x_{Guid.NewGuid():N}", amountMinor, currency, status, receiptUrl, at = Time(at) });
    }

    /// <summary>The value of every element carrying <c>data-testid="<paramref name="testId"/>"</c>, in page order.</summary>
    public static List<string> TextsOf(string html, string testId) =>
        Regex.Matches(html, $"data-testid=\"{Regex.Escape(testId)}\"[^>]*>([^<]*)<").Select(m => System.Net.WebUtility.HtmlDecode(m.Groups[1].Value.Trim())).ToList();

    public static string? TextOf(string html, string testId) => TextsOf(html, testId).FirstOrDefault();

    /// <summary>The chart's bars as (day, value), from their data attributes, inside the SVG with the given test id.</summary>
    public static List<(string Day, long Value)> Bars(string html, string chartTestId)
    {
        var svg = Regex.Match(html, $"<svg[^>]*data-testid=\"{Regex.Escape(chartTestId)}\"[\\s\\S]*?</svg>");
        svg.Success.ShouldBeTrue($"no chart {chartTestId}");
        return Regex.Matches(svg.Value, "data-day=\"([0-9-]+)\" data-value=\"(-?[0-9]+)\"")
            .Select(m => (m.Groups[1].Value, long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture))).ToList();
    }

    public static string Day(DateTime utc) => utc.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
