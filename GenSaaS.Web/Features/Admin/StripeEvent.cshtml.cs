using System.ComponentModel.DataAnnotations;
using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// <c>/admin/billing/events/{id}</c>: one Stripe event, its payload (indented, HTML-encoded like any text), its customer's admin
/// page, and for a failed event the replay: a reason and a Confirm button, with a token made when the page is shown, so
/// sending the form twice or from a second tab replays once (<see cref="StripeEventReplays"/>). The outcome says what the
/// replay changed, as the applier noted it.
/// </summary>
[Authorize(Policy = Roles.Admin)]
public sealed class StripeEvent(StripeEventLog log, StripeEventReplays replays) : PageModel
{
    public sealed record ReplayInput
    {
        [Required(ErrorMessage = "Say why: the reason goes into the audit log.")]
        [StringLength(StripeEventReplays.MaxReasonLength, ErrorMessage = "Keep the reason under 500 characters.")]
        public string? Reason { get; init; }

        [Required]
        [RegularExpression("^[0-9a-f]{32}$")]
        public string? Token { get; init; }
    }

    [BindProperty(SupportsGet = true, Name = "id")]
    public string Id { get; set; } = "";

    [BindProperty]
    public ReplayInput Replay { get; set; } = new();

    [TempData]
    public string? StatusMessage { get; set; }

    public StripeEventRow? Row { get; private set; }

    public string Payload { get; private set; } = "";

    public DateTime? Created { get; private set; }

    private async Task<bool> LoadAsync(CancellationToken ct)
    {
        if (await log.GetAsync(Id, ct) is not { } found)
            return false;
        Row = found.Row;
        Payload = StripeEventLog.Pretty(found.Payload);
        Created = found.Created > 0 ? DateTimeOffset.FromUnixTimeSeconds(found.Created).UtcDateTime : null;
        return true;
    }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct))
            return NotFound();
        Replay = new ReplayInput { Token = Guid.NewGuid().ToString("N") };
        return Page();
    }

    public async Task<IActionResult> OnPostReplayAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct))
            return NotFound();
        if (string.IsNullOrWhiteSpace(Replay.Reason))
            ModelState.AddModelError("Replay.Reason", "Say why: the reason goes into the audit log.");
        if (!ModelState.IsValid)
            return Page();
        var outcome = await replays.ReplayAsync(AuditActor.From(User), Id, Replay.Reason!, Replay.Token!, ct);
        if (outcome.Kind == "refused")
        {
            // Only a failed event is offered a replay; a forged or stale form for any other is refused, and nothing runs.
            ModelState.AddModelError("Replay", outcome.Message);
            Response.StatusCode = StatusCodes.Status409Conflict;
            return Page();
        }
        StatusMessage = outcome.Message;
        return RedirectToPage(new { id = Id });
    }
}
