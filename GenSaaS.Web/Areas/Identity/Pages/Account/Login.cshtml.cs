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
    /// <summary>
    /// Shortest time a refused sign-in takes, so that database work on known accounts cannot be timed. Well above one
    /// password hash (about 100 ms on a small machine), so that a busy machine still ends both kinds of refusal on it.
    /// </summary>
    public static readonly TimeSpan RefusalFloor = TimeSpan.FromMilliseconds(500);

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

        // Every refusal costs exactly one password hash: the account's own, or a dummy one for an unknown address or an
        // account without a password. What is said about an unconfirmed or locked-out account is said only to whoever
        // proved they know its password.
        var user = await users.FindByEmailAsync(Input.Email!);
        var passwordRight = false;
        if (user?.PasswordHash is null)
            hasher.VerifyHashedPassword(new IdentityUser(), DummyHash.Value, Input.Password!);
        else
            passwordRight = await users.CheckPasswordAsync(user, Input.Password!);

        if (user is not null && !await signIn.CanSignInAsync(user))
            return await RefuseAsync(started, passwordRight
                ? "Confirm your email address first: follow the link we sent you, or ask for a new one below."
                : null);
        if (user is not null && await users.IsLockedOutAsync(user))
        {
            logger.LogWarning("Sign-in refused for user {UserId}: account locked out", user.Id);
            return passwordRight ? RedirectToPage("./Lockout") : await RefuseAsync(started, null);
        }
        if (user is null || !passwordRight)
        {
            if (user is not null)
                await users.AccessFailedAsync(user);
            return await RefuseAsync(started, null);
        }

        // The password is right: Identity signs in, or asks for the second factor.
        var result = await signIn.PasswordSignInAsync(user, Input.Password!, Input.RememberMe, lockoutOnFailure: true);
        if (result.Succeeded)
        {
            logger.LogInformation("User signed in with a password");
            return LocalRedirect(AccountLinks.AfterSignIn(ReturnUrl));
        }
        if (result.RequiresTwoFactor)
            return RedirectToPage("./LoginWith2fa", new { ReturnUrl = AccountLinks.AfterSignIn(ReturnUrl), Input.RememberMe });
        return await RefuseAsync(started, null);
    }

    private async Task<IActionResult> RefuseAsync(long started, string? reason)
    {
        throttle.SignInFailed(Input.Email);
        await WaitForFloorAsync(started);
        ModelState.AddModelError(string.Empty, reason ?? "Invalid login attempt.");
        return Page();
    }

    private static async Task WaitForFloorAsync(long started)
    {
        var left = RefusalFloor - TimeProvider.System.GetElapsedTime(started);
        if (left > TimeSpan.Zero)
            await Task.Delay(left);
    }
}
