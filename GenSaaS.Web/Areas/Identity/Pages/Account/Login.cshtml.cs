using System.ComponentModel.DataAnnotations;
using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Areas.Identity.Pages.Account;

/// <summary>
/// Replaces Identity UI's sign-in page: failures count towards lockout (Identity UI's own page passes
/// lockoutOnFailure: false), and the page offers the email sign-in link and the configured providers.
/// </summary>
[AllowAnonymous]
public sealed class Login(SignInManager<IdentityUser> signIn, ILogger<Login> logger) : PageModel
{
    public sealed record InputModel
    {
        [Required, EmailAddress, Display(Name = "Email")]
        public string? Email { get; init; }

        [Required, DataType(DataType.Password), Display(Name = "Password")]
        public string? Password { get; init; }

        [Display(Name = "Remember me")]
        public bool RememberMe { get; init; }
    }

    [BindProperty]
    public InputModel Input { get; set; } = new();

    public IReadOnlyList<AuthenticationScheme> ExternalLogins { get; private set; } = [];

    public string ReturnUrl { get; private set; } = "/";

    [TempData]
    public string? ErrorMessage { get; set; }

    public async Task OnGetAsync(string? returnUrl = null)
    {
        if (!string.IsNullOrEmpty(ErrorMessage))
            ModelState.AddModelError(string.Empty, ErrorMessage);
        ReturnUrl = AccountLinks.SafeReturnUrl(returnUrl);
        // A half-finished provider sign-in must not leak into this one.
        await HttpContext.SignOutAsync(IdentityConstants.ExternalScheme);
        ExternalLogins = (await signIn.GetExternalAuthenticationSchemesAsync()).ToList();
    }

    public async Task<IActionResult> OnPostAsync(string? returnUrl = null)
    {
        ReturnUrl = AccountLinks.SafeReturnUrl(returnUrl);
        ExternalLogins = (await signIn.GetExternalAuthenticationSchemesAsync()).ToList();
        if (!ModelState.IsValid)
            return Page();

        var result = await signIn.PasswordSignInAsync(Input.Email!, Input.Password!, Input.RememberMe, lockoutOnFailure: true);
        if (result.Succeeded)
        {
            logger.LogInformation("User signed in with a password");
            return LocalRedirect(ReturnUrl);
        }
        if (result.RequiresTwoFactor)
            return RedirectToPage("./LoginWith2fa", new { ReturnUrl, Input.RememberMe });
        if (result.IsLockedOut)
        {
            logger.LogWarning("Sign-in refused: account locked out");
            return RedirectToPage("./Lockout");
        }
        ModelState.AddModelError(string.Empty, result.IsNotAllowed
            ? "Confirm your email address first: follow the link we sent you, or ask for a new one below."
            : "Invalid login attempt.");
        return Page();
    }
}
