using System.ComponentModel.DataAnnotations;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Billing;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// <c>/admin/customers/{id}/subscription/cancel</c> and <c>/resume</c>: the confirmation of an admin's plan change, with what
/// it does and when, a required reason and a Confirm button. The form's token is made when the page is shown, so confirming
/// twice, resending the form or confirming from a second tab changes the plan once and writes one audit entry.
/// </summary>
[Authorize(Policy = Roles.Admin)]
public sealed class PlanChange(CustomerDetails details, SubscriptionChanges changes, BillingModeInfo mode, ILogger<PlanChange> logger) : PageModel
{
    public sealed record ChangeInput
    {
        [Required(ErrorMessage = "Say why: the reason goes into the audit log.")]
        [StringLength(SubscriptionChanges.MaxReasonLength, ErrorMessage = "Keep the reason under 500 characters.")]
        public string? Reason { get; init; }

        [Required]
        [RegularExpression("^[0-9a-f]{32}$")]
        public string? Token { get; init; }
    }

    [BindProperty(SupportsGet = true, Name = "id")]
    public string Id { get; set; } = "";

    /// <summary><c>cancel</c> or <c>resume</c>, from the address.</summary>
    [BindProperty(SupportsGet = true, Name = "change")]
    public string Change { get; set; } = "";

    [BindProperty]
    public ChangeInput Input { get; set; } = new();

    public CustomerDetail? Detail { get; private set; }

    public bool Cancel => Change == "cancel";

    /// <summary>Set when Stripe did not answer: nothing changed, the page says so and offers the button again.</summary>
    public bool StripeUnavailable { get; private set; }

    private async Task<bool> LoadAsync(CancellationToken ct)
    {
        if (Change is not ("cancel" or "resume"))
            return false;
        Detail = await details.GetAsync(Id, ct);
        return Detail is not null;
    }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct))
            return NotFound();
        Input = new ChangeInput { Token = Guid.NewGuid().ToString("N") };
        return Page();
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct))
            return NotFound();
        if (string.IsNullOrWhiteSpace(Input.Reason))
            ModelState.AddModelError("Input.Reason", "Say why: the reason goes into the audit log.");
        if (!ModelState.IsValid)
            return Page();
        if (!mode.IsEnabled)
        {
            ModelState.AddModelError("", "Billing is not configured on this server.");
            return Page();
        }
        PlanChanges.Outcome outcome;
        bool replayed;
        try
        {
            (outcome, replayed) = await changes.SetAsync(AuditActor.From(User), Id, Cancel, Input.Reason!, Input.Token!, ct);
        }
        catch (Exception ex) when (StripeGateway.IsUnavailable(ex, ct))
        {
            logger.LogWarning(BillingLogEvents.StripeUnavailable, ex, "Admin {Change} of {UserId}'s plan not made: Stripe did not answer", Change, Id);
            StripeUnavailable = true;
            Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Page();
        }
        TempData["StatusMessage"] = (outcome, replayed) switch
        {
            (PlanChanges.Outcome.Changed, true) => "This change was already made; nothing changed again.",
            (PlanChanges.Outcome.Changed, false) => Cancel ? "The plan ends at the end of its period." : "The plan renews again at the end of its period.",
            (PlanChanges.Outcome.NoSubscription, _) => "The customer has no subscription; nothing changed.",
            (PlanChanges.Outcome.AlreadyCanceling, _) => "The plan was already set to end; nothing changed.",
            (PlanChanges.Outcome.NotCanceling, _) => "The plan was not set to end; nothing changed.",
            _ => "The subscription has ended at Stripe; nothing changed.",
        };
        return Redirect($"/admin/customers/{Uri.EscapeDataString(Id)}");
    }
}
