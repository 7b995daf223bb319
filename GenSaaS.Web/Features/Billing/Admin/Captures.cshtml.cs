using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Billing.Admin;

/// <summary>
/// <c>/admin/billing/captures</c>: pay-per-use holds that need a person: captures Stripe has not answered (still retried by
/// the sweep), holds close to Stripe's capture deadline, and generations whose hold ended without being captured.
/// </summary>
[Authorize(Policy = Roles.Admin)]
public sealed class Captures(Db db, PayPerUse payPerUse, TimeProvider clock) : PageModel
{
    public sealed record CaptureRow(
        string UsageId, string UserId, string? PaymentIntentId, string State, string UsageState, long AmountMinor, string Currency,
        long CaptureAttempts, string? Error, DateTime? LastErrorAt, DateTime? CaptureBefore, DateTime CreatedAt);

    public IReadOnlyList<CaptureRow> Rows { get; private set; } = [];

    [TempData]
    public string? StatusMessage { get; set; }

    // Open holds whose capture failed or whose deadline is near, and succeeded generations whose hold ended uncaptured.
    private const string ListSql = """
        SELECT c.usage_id AS UsageId, c.user_id AS UserId, c.payment_intent_id AS PaymentIntentId, c.state, u.state AS UsageState,
               c.amount_minor AS AmountMinor, c.currency, c.capture_attempts AS CaptureAttempts, c.error, c.last_error_at AS LastErrorAt,
               c.capture_before AS CaptureBefore, c.created_at AS CreatedAt
        FROM usage_charges AS c JOIN usage AS u ON u.id = c.usage_id
        WHERE (c.state = 'authorised' AND (c.last_error_at IS NOT NULL OR c.capture_before < @soon))
           OR (c.state IN ('canceled', 'failed') AND u.state = 'succeeded')
        ORDER BY CASE c.state WHEN 'authorised' THEN 0 ELSE 1 END, c.capture_before, c.updated_at DESC
        LIMIT 200;
        """;

    public async Task OnGetAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var soon = clock.GetUtcNow().UtcDateTime + HoldWatchdog.SettleBefore;
        Rows = (await connection.QueryAsync<CaptureRow>(new CommandDefinition(ListSql, new { soon }, cancellationToken: ct))).ToList();
    }

    public async Task<IActionResult> OnPostCaptureAsync(string usageId, CancellationToken ct)
    {
        await payPerUse.CaptureAsync(usageId, ct);
        StatusMessage = $"Capture of usage {usageId} tried; see its state below.";
        return RedirectToPage();
    }
}
