using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Billing.Webhooks;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Billing.Admin;

/// <summary><c>/admin/billing/events</c>: Stripe events as received, failures first, with a replay button.</summary>
[Authorize(Policy = Roles.Admin)]
public sealed class Events(Db db, StripeWebhooks webhooks) : PageModel
{
    public sealed record EventRow(string Id, string Type, string? ObjectId, string Status, long Attempts, string? LastError, DateTime ReceivedAt, DateTime? AppliedAt);

    public IReadOnlyList<EventRow> Rows { get; private set; } = [];

    [BindProperty(SupportsGet = true)]
    public string? Status { get; set; }

    [TempData]
    public string? StatusMessage { get; set; }

    private const string ListSql = """
        SELECT id, type, object_id AS ObjectId, status, attempts, last_error AS LastError, received_at AS ReceivedAt, applied_at AS AppliedAt
        FROM stripe_events
        WHERE @status IS NULL OR status = @status
        ORDER BY CASE status WHEN 'failed' THEN 0 WHEN 'received' THEN 1 ELSE 2 END, received_at DESC
        LIMIT 200;
        """;

    public async Task OnGetAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var status = string.IsNullOrEmpty(Status) ? null : Status;
        Rows = (await connection.QueryAsync<EventRow>(new CommandDefinition(ListSql, new { status }, cancellationToken: ct))).ToList();
    }

    public async Task<IActionResult> OnPostReplayAsync(string id, CancellationToken ct)
    {
        var applied = await webhooks.ReplayAsync(id, ct);
        StatusMessage = applied switch
        {
            null => $"Event {id} is already applied.",
            true => $"Event {id} applied.",
            false => $"Event {id} still fails; see its last error.",
        };
        return RedirectToPage();
    }
}
