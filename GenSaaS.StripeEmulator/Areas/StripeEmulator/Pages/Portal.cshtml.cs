using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.StripeEmulator;

/// <summary>The emulator's stand-in for Stripe's customer portal: change the card, cancel or renew the plan.</summary>
public sealed class Portal(IServiceProvider services) : PageModel
{
    [BindProperty] public CardInput Input { get; set; } = new();

    public PortalView? Session { get; private set; }

    public string? Error { get; private set; }

    [TempData] public string? StatusMessage { get; set; }

    public sealed class CardInput
    {
        [Display(Name = "Card number")] public string? CardNumber { get; set; }

        /// <summary>The button pressed on the 3-D Secure step: "complete" or "fail"; empty before it is shown.</summary>
        public string? Authentication { get; set; }
    }

    /// <summary>True while the page shows the 3-D Secure step for the card typed.</summary>
    public bool Authenticating { get; private set; }

    private EmulatedStripe? Emulator => services.GetService<EmulatedStripe>();

    public async Task<IActionResult> OnGetAsync(string id)
    {
        if (Emulator is not { } emulator) return NotFound();
        Session = await emulator.GetPortalViewAsync(id);
        return Session is null ? NotFound() : Page();
    }

    public async Task<IActionResult> OnPostCardAsync(string id)
    {
        if (Emulator is not { } emulator || await emulator.GetPortalViewAsync(id) is null) return NotFound();
        var step = Input.Authentication switch
        {
            "complete" => CardAuthentication.Completed,
            "fail" => CardAuthentication.Failed,
            _ => CardAuthentication.NotYet,
        };
        var outcome = await emulator.PortalChangeCardAsync(id, Input.CardNumber, step);
        Error = outcome.Error;
        Authenticating = outcome.NeedsAuthentication;
        if (outcome.Completed)
        {
            StatusMessage = "Your card was updated.";
            return RedirectToPage(new { id });
        }
        Session = await emulator.GetPortalViewAsync(id);
        return Page();
    }

    public async Task<IActionResult> OnPostCancelAsync(string id, string subscriptionId)
    {
        if (Emulator is not { } emulator || await emulator.GetPortalViewAsync(id) is null) return NotFound();
        await emulator.PortalSetCancelAtPeriodEndAsync(id, subscriptionId, cancel: true);
        StatusMessage = "Your plan will be canceled at the end of the period.";
        return RedirectToPage(new { id });
    }

    public async Task<IActionResult> OnPostRenewAsync(string id, string subscriptionId)
    {
        if (Emulator is not { } emulator || await emulator.GetPortalViewAsync(id) is null) return NotFound();
        await emulator.PortalSetCancelAtPeriodEndAsync(id, subscriptionId, cancel: false);
        StatusMessage = "Your plan will renew.";
        return RedirectToPage(new { id });
    }
}
