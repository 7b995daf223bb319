using System.Globalization;
using System.Security.Claims;
using CsvHelper;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary>
/// The customer's credit history and payments as CSV, for their own books: streamed row by row from one read (a million lines
/// never sit in memory), only the signed-in customer's rows, and safe to open in a spreadsheet — a text field that starts with
/// <c>= + - @</c>, tab or CR (a prompt, a reason) is written with a leading <c>'</c> so it is shown, never run as a formula
/// (CsvHelper's injection escaping; numbers are numbers and keep their sign).
/// </summary>
public static class DashboardExports
{
    public const string CreditsPath = "/dashboard/credits.csv";
    public const string PaymentsPath = "/dashboard/payments.csv";

    private static readonly CsvWriterOptions Options = new() { Injection = CsvInjection.Escape, FormatProvider = CultureInfo.InvariantCulture };

    public static void Map(WebApplication app)
    {
        app.MapGet(CreditsPath, ExportCreditsAsync).RequireAuthorization();
        app.MapGet(PaymentsPath, ExportPaymentsAsync).RequireAuthorization();
    }

    private static string UserId(ClaimsPrincipal user) =>
        user.FindFirstValue(ClaimTypes.NameIdentifier) ?? throw new InvalidOperationException("Signed-in user without an id");

    private static void Start(HttpContext http, string name)
    {
        http.Response.ContentType = "text/csv; charset=utf-8";
        http.Response.Headers.ContentDisposition = $"attachment; filename=\"gensaas-{name}-{DateTime.UtcNow:yyyy-MM-dd}.csv\"";
        http.Response.Headers.CacheControl = "no-store";
    }

    private static async Task ExportCreditsAsync(HttpContext http, CreditHistory history, CancellationToken ct)
    {
        var userId = UserId(http.User);
        Start(http, "credits");
        await using var csv = CsvWriter.Create(http.Response.Body, Options, leaveOpen: true);
        foreach (var column in new[] { "id", "created_at", "reason", "kind", "bucket", "amount", "balance_after", "description", "reference", "generation_id", "prompt" })
            csv.WriteField(column);
        await csv.EndRecordAsync(ct);
        await foreach (var line in history.AllAsync(userId, ct))
        {
            csv.WriteField(line.PublicId);
            csv.WriteField(line.CreatedAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            csv.WriteField(line.Category);
            csv.WriteField(line.Kind);
            csv.WriteField(line.Bucket);
            csv.WriteField(line.Amount);
            csv.WriteField(line.BalanceAfter);
            csv.WriteField(line.Reason);
            csv.WriteField(line.Reference);
            csv.WriteField(line.GenerationId);
            csv.WriteField(line.Prompt);
            await csv.EndRecordAsync(ct);
        }
        await csv.FlushAsync(ct);
    }

    private static async Task ExportPaymentsAsync(HttpContext http, PaymentHistory history, CancellationToken ct)
    {
        var userId = UserId(http.User);
        Start(http, "payments");
        await using var csv = CsvWriter.Create(http.Response.Body, Options, leaveOpen: true);
        foreach (var column in new[] { "id", "created_at", "kind", "description", "status", "amount", "currency", "amount_minor", "plan", "credits", "stripe_id", "receipt_url", "hosted_invoice_url", "invoice_pdf" })
            csv.WriteField(column);
        await csv.EndRecordAsync(ct);
        await foreach (var p in history.AllAsync(userId, ct))
        {
            csv.WriteField(p.PublicId);
            csv.WriteField(p.CreatedAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            csv.WriteField(p.Kind);
            csv.WriteField(p.Description);
            csv.WriteField(p.Status);
            // A decimal in the currency's own unit (500 JPY, 5.00 USD); a refund is negative.
            csv.WriteField(decimal.Parse(Shared.Money.Amount(p.Kind == "refund" ? -p.AmountMinor : p.AmountMinor, p.Currency), CultureInfo.InvariantCulture), "0.###");
            csv.WriteField(p.Currency.ToUpperInvariant());
            csv.WriteField(p.Kind == "refund" ? -p.AmountMinor : p.AmountMinor);
            csv.WriteField(p.PlanKey);
            csv.WriteField(p.Credits);
            csv.WriteField(p.StripeId);
            csv.WriteField(PaymentLine.Https(p.ReceiptUrl));
            csv.WriteField(PaymentLine.Https(p.HostedInvoiceUrl));
            csv.WriteField(PaymentLine.Https(p.InvoicePdf));
            await csv.EndRecordAsync(ct);
        }
        await csv.FlushAsync(ct);
    }
}
