using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.StripeEmulator;

/// <summary>The emulator's stand-in for Stripe's hosted Checkout page.</summary>
public sealed class Checkout(IServiceProvider services) : PageModel
{
    [BindProperty] public PayInput Input { get; set; } = new();

    public CheckoutView? Session { get; private set; }

    public string? Error { get; private set; }

    public sealed class PayInput
    {
        [Display(Name = "Card number")] public string? CardNumber { get; set; }

        [Display(Name = "Email")] public string? Email { get; set; }

        /// <summary>The button pressed on the 3-D Secure step: "complete" or "fail"; empty before it is shown.</summary>
        public string? Authentication { get; set; }
        [Display(Name = "Account number")] public string? AccountNumber { get; set; }
    }

    /// <summary>True while the page shows the 3-D Secure step for the card typed.</summary>
    public bool Authenticating { get; private set; }

    public async Task<IActionResult> OnGetAsync(string id)
    {
        if (services.GetService<EmulatedStripe>() is not { } emulator) return NotFound();
        Session = await emulator.GetCheckoutViewAsync(id);
        if (Session is null) return NotFound();
        Input.Email = Session.Email;
        return Page();
    }

    public async Task<IActionResult> OnPostAsync(string id)
    {
        if (services.GetService<EmulatedStripe>() is not { } emulator) return NotFound();
        var step = Input.Authentication switch
        {
            "complete" => CardAuthentication.Completed,
            "fail" => CardAuthentication.Failed,
            _ => CardAuthentication.NotYet,
        };
        var outcome = await emulator.CompleteCheckoutAsync(id, Input.CardNumber, Input.Email, step);
        if (outcome.Completed) return Redirect(outcome.RedirectUrl!);
        Session = await emulator.GetCheckoutViewAsync(id);
        if (Session is null) return NotFound();
        Error = outcome.Error;
        Authenticating = outcome.NeedsAuthentication;
        return Page();
    }

    /// <summary>"Pay by bank": a delayed debit from a test US bank account.</summary>
    public async Task<IActionResult> OnPostBankAsync(string id)
    {
        if (services.GetService<EmulatedStripe>() is not { } emulator) return NotFound();
        var outcome = await emulator.CompleteCheckoutWithBankAccountAsync(id, Input.AccountNumber, Input.Email);
        if (outcome.Completed) return Redirect(outcome.RedirectUrl!);
        Session = await emulator.GetCheckoutViewAsync(id);
        if (Session is null) return NotFound();
        Error = outcome.Error;
        return Page();
    }

    public static string Money(long minor, string currency) =>
        (minor / 100m).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + " " + currency.ToUpperInvariant();
}
