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
/// A refusal looks and takes the same for an unknown address as for a known one: a password is hashed either way,
/// "confirm your email" and "locked out" are told only to whoever knows the password, and refusals take at least
/// <see cref="RefusalFloor"/>.
/// </summary>
[AllowAnonymous]
public sealed class Login(
    SignInManager<IdentityUser> signIn,
    UserManager<IdentityUser> users,
    IPasswordHasher<IdentityUser> hasher,
    AccountThrottle throttle,
    ILogger<Login> logger) : PageModel
{
    /// <summary>Shortest time a refused sign-in takes, so that database work on known accounts cannot be timed.</summary>
    public static readonly TimeSpan RefusalFloor = TimeSpan.FromMilliseconds(300);

    // A hash of the current format and cost, verified for addresses that have no usable password hash.
    private static readonly Lazy<string> DummyHash = new(() => new PasswordHasher<IdentityUser>().HashPassword(new IdentityUser(), Guid.NewGuid().ToString()));

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
        var started = TimeProvider.System.GetTimestamp();
        ReturnUrl = AccountLinks.SafeReturnUrl(returnUrl);
        ExternalLogins = (await signIn.GetExternalAuthenticationSchemesAsync()).ToList();
        if (throttle.TryAttempt(HttpContext, AccountAction.SignIn, Input.Email) is { } wait)
            return await AccountThrottle.RefuseAsync(this, wait);
        if (!ModelState.IsValid)
            return Page();

        var user = await users.FindByEmailAsync(Input.Email!);
        var result = user is null ? Microsoft.AspNetCore.Identity.SignInResult.Failed : await signIn.PasswordSignInAsync(user, Input.Password!, Input.RememberMe, lockoutOnFailure: true);
        if (result.Succeeded)
        {
            logger.LogInformation("User signed in with a password");
            return LocalRedirect(ReturnUrl);
        }
        if (result.RequiresTwoFactor)
            return RedirectToPage("./LoginWith2fa", new { ReturnUrl, Input.RememberMe });

        // Identity refuses unknown, unconfirmed and locked-out accounts without hashing: do it here, so every
        // refusal costs one hash, and say why only to whoever proved they know the password.
        var passwordRight = false;
        if (user is null)
            hasher.VerifyHashedPassword(new IdentityUser(), DummyHash.Value, Input.Password!);
        else if (result.IsLockedOut || result.IsNotAllowed)
            passwordRight = await users.CheckPasswordAsync(user, Input.Password!);
        throttle.SignInFailed(Input.Email);
        await WaitForFloorAsync(started);
        if (result.IsLockedOut && passwordRight)
        {
            logger.LogWarning("Sign-in refused: account locked out");
            return RedirectToPage("./Lockout");
        }
        ModelState.AddModelError(string.Empty, result.IsNotAllowed && passwordRight
            ? "Confirm your email address first: follow the link we sent you, or ask for a new one below."
            : "Invalid login attempt.");
        return Page();
    }

    private static async Task WaitForFloorAsync(long started)
    {
        var left = RefusalFloor - TimeProvider.System.GetElapsedTime(started);
        if (left > TimeSpan.Zero)
            await Task.Delay(left);
    }
}
