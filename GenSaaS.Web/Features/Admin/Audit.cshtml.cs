using CsvHelper;
using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary><c>/admin/audit</c>: the audit log, newest first, filtered by actor, action, target and dates; paged by cursor; exported as CSV.</summary>
[Authorize(Policy = Roles.Admin)]
public sealed class Audit(AuditLog audit) : PageModel
{
    public const int PageSize = 50;

    [BindProperty(SupportsGet = true)]
    public string? Actor { get; set; }

    [BindProperty(SupportsGet = true, Name = "action")]
    public string? ActionName { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Target { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? From { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? To { get; set; }

    [BindProperty(SupportsGet = true, Name = "starting_after")]
    public string? StartingAfter { get; set; }

    public IReadOnlyList<AuditEntry> Entries { get; private set; } = [];

    public bool HasMore { get; private set; }

    /// <summary>The query string of the current filter (no cursor), for the next-page and CSV links.</summary>
    public Dictionary<string, string?> FilterRoute => new()
    {
        ["actor"] = Actor, ["action"] = ActionName, ["target"] = Target, ["from"] = From, ["to"] = To,
    };

    private AuditFilter? ReadFilter()
    {
        if (!AdminApi.TryDate(From, out var from))
            ModelState.AddModelError(nameof(From), "'From' must be a date, yyyy-MM-dd (UTC).");
        if (!AdminApi.TryDate(To, out var to))
            ModelState.AddModelError(nameof(To), "'To' must be a date, yyyy-MM-dd (UTC).");
        return ModelState.IsValid ? new AuditFilter(Blank(Actor), Blank(ActionName), Blank(Target), from, to) : null;
    }

    private static string? Blank(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

    public async Task OnGetAsync(CancellationToken ct)
    {
        if (ReadFilter() is not { } filter)
            return;
        var before = AuditLog.ParseId(StartingAfter);
        (var entries, HasMore) = await audit.PageAsync(filter, PageSize, before, ct);
        Entries = entries;
    }

    /// <summary>
    /// The filtered log as CSV, newest first. Text that a spreadsheet would run as a formula (starting with = + - @, tab or CR) is
    /// escaped with a leading apostrophe, so a reason typed by anyone cannot become a formula on the operator's machine.
    /// The export itself is audited.
    /// </summary>
    public async Task<IActionResult> OnGetCsvAsync(CancellationToken ct)
    {
        if (ReadFilter() is not { } filter)
        {
            await OnGetAsync(ct);
            return Page();
        }
        await audit.AppendAsync(AuditActor.From(User), AuditActions.AuditExport, null, null, null, filter, ct);
        Response.ContentType = "text/csv; charset=utf-8";
        Response.Headers.ContentDisposition = $"attachment; filename=\"audit-{DateTime.UtcNow:yyyyMMdd-HHmmss}.csv\"";
        await using (var csv = CsvWriter.Create(Response.Body, new CsvWriterOptions { Injection = CsvInjection.Escape }, leaveOpen: true))
        {
            await csv.WriteRecordAsync(["id", "at", "actor", "actor_kind", "action", "target", "reason", "before", "after"], ct);
            await foreach (var e in audit.ReadAllAsync(filter, ct))
                await csv.WriteRecordAsync([e.PublicId, e.At.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture), e.Actor, e.ActorKind, e.Action, e.Target ?? "", e.Reason ?? "", e.Before ?? "", e.After ?? ""], ct);
        }
        return new EmptyResult();
    }
}
