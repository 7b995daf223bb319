using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Billing;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// <c>/admin/jobs</c>: failed captures, holds close to Stripe's capture deadline and failed renewals, each with its action:
/// capture now, release the hold, open the object in Stripe. An action is reviewed first (what will happen, the reason
/// typed), then confirmed; confirming twice or from a second tab acts once, since the hold has moved by then.
/// </summary>
[Authorize(Policy = Roles.Admin)]
public sealed class Jobs(JobActions actions, BillingModeInfo billing) : PageModel
{
    public const string Capture = "capture";
    public const string Release = "release";

    public List<HoldRow> FailedCaptures { get; private set; } = [];
    public List<HoldRow> HoldsNearExpiry { get; private set; } = [];
    public List<RenewalRow> FailedRenewals { get; private set; } = [];

    /// <summary>On the confirmation step: the hold and the action to confirm.</summary>
    public HoldRow? Confirming { get; private set; }

    [BindProperty]
    public string? Action { get; set; }

    [BindProperty]
    public string? UsageId { get; set; }

    [BindProperty]
    public string? Reason { get; set; }

    [TempData]
    public string? StatusMessage { get; set; }

    [TempData]
    public bool StatusChanged { get; set; }

    public string? StripeUrl(string? objectId) => billing.DashboardUrl(objectId);

    public bool IsEmulator => billing.IsEmulator;

    public async Task OnGetAsync(CancellationToken ct) => await LoadAsync(ct);

    private async Task LoadAsync(CancellationToken ct) =>
        (FailedCaptures, HoldsNearExpiry, FailedRenewals) = await actions.ListAsync(ct);

    private bool Valid()
    {
        if (Action is not (Capture or Release))
            ModelState.AddModelError(nameof(Action), "Choose capture or release.");
        if (string.IsNullOrWhiteSpace(UsageId))
            ModelState.AddModelError(nameof(UsageId), "Which hold?");
        if (string.IsNullOrWhiteSpace(Reason))
            ModelState.AddModelError(nameof(Reason), "Say why: the reason goes into the audit log.");
        else if (Reason.Trim().Length > JobActions.MaxReasonLength)
            ModelState.AddModelError(nameof(Reason), "Keep the reason under 500 characters.");
        return ModelState.IsValid;
    }

    /// <summary>The confirmation step: repeats what will happen, with a Confirm button.</summary>
    public async Task<IActionResult> OnPostReviewAsync(CancellationToken ct)
    {
        if (Valid())
        {
            Confirming = await actions.FindAsync(UsageId!, ct);
            if (Confirming is null)
                ModelState.AddModelError(nameof(UsageId), $"There is no hold for usage {UsageId}.");
        }
        await LoadAsync(ct);
        return Page();
    }

    public async Task<IActionResult> OnPostConfirmAsync(CancellationToken ct)
    {
        if (!Valid())
        {
            await LoadAsync(ct);
            return Page();
        }
        var actor = AuditActor.From(User);
        var outcome = Action == Capture
            ? await actions.CaptureAsync(actor, UsageId!, Reason!, ct)
            : await actions.ReleaseAsync(actor, UsageId!, Reason!, ct);
        StatusMessage = outcome.Message;
        StatusChanged = outcome.Changed;
        return RedirectToPage();
    }
}
