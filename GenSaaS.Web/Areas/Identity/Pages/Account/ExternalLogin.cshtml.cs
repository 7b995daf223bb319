using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Legal;
using GenSaaS.Web.Features.Shared;
using Hangfire;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Areas.Identity.Pages.Account;

/// <summary>
/// Replaces Identity UI's provider sign-in page. A first Google or GitHub sign-in whose address the provider
/// has verified creates a confirmed account at once; any other address still has to be confirmed by email.
/// An existing account is never joined by address alone: its owner links the provider after signing in.
/// </summary>
[AllowAnonymous]
public sealed class ExternalLogin(
    SignInManager<IdentityUser> signIn, UserManager<IdentityUser> users, PublicAddress publicAddress, IBackgroundJobClient jobs,
    LegalDocuments legal, LegalAcceptances acceptances, ILogger<ExternalLogin> logger) : PageModel
{
    public sealed record InputModel
    {
        [Required, EmailAddress, Display(Name = "Email")]
        public string? Email { get; init; }
    }

    [BindProperty]
    public InputModel Input { get; set; } = new();

    public string? ProviderDisplayName { get; private set; }

    [BindProperty(Name = LegalConsent.AcceptField)]
    public bool AcceptLegal { get; set; }

    [BindProperty(Name = LegalConsent.StampField)]
    public string? LegalStamp { get; set; }

    /// <summary>The operator's published documents; when there are any, a new account is made only from the form, with the box ticked.</summary>
    public LegalConsent Consent { get; private set; } = new([]);

    public string ReturnUrl { get; private set; } = "/";

    [TempData]
    public string? ErrorMessage { get; set; }

    public IActionResult OnGet() => RedirectToPage("./Login");

    public IActionResult OnPost(string provider, string? returnUrl = null)
    {
        var redirectUrl = Url.Page("./ExternalLogin", pageHandler: "Callback", values: new { returnUrl = AccountLinks.SafeReturnUrl(returnUrl) });
        return new ChallengeResult(provider, signIn.ConfigureExternalAuthenticationProperties(provider, redirectUrl));
    }

    public async Task<IActionResult> OnGetCallbackAsync(string? returnUrl = null, string? remoteError = null)
    {
        ReturnUrl = AccountLinks.SafeReturnUrl(returnUrl);
        if (remoteError is not null)
        {
            ErrorMessage = $"Sign-in with the provider failed: {remoteError}";
            return RedirectToPage("./Login", new { ReturnUrl });
        }
        var info = await signIn.GetExternalLoginInfoAsync();
        if (info is null)
        {
            ErrorMessage = "The provider's answer could not be read. Try again.";
            return RedirectToPage("./Login", new { ReturnUrl });
        }

        var result = await signIn.ExternalLoginSignInAsync(info.LoginProvider, info.ProviderKey, isPersistent: false, bypassTwoFactor: true);
        if (result.Succeeded)
        {
            logger.LogInformation("User signed in with {LoginProvider}", info.LoginProvider);
            return LocalRedirect(AccountLinks.AfterSignIn(ReturnUrl));
        }
        if (result.IsLockedOut)
            return RedirectToPage("./Lockout");
        if (result.IsNotAllowed)
        {
            ErrorMessage = "Confirm your email address first: follow the link we sent you, or ask for a new one.";
            return RedirectToPage("./Login", new { ReturnUrl });
        }

        ProviderDisplayName = info.ProviderDisplayName;
        Input = new InputModel { Email = info.Principal.FindFirstValue(ClaimTypes.Email) };
        Consent = new LegalConsent(legal.Published());
        // With terms to accept, even a verified address goes through the form: the box is the person's own act.
        if (VerifiedEmail(info) is { } verified && !Consent.Asked && await users.FindByEmailAsync(verified) is null)
            return await CreateAccountAsync(info, verified);
        if (Input.Email is { } known && await users.FindByEmailAsync(known) is not null)
            ModelState.AddModelError(string.Empty,
                $"An account with {known} already exists. Sign in to it with its password or an email link, then connect {info.ProviderDisplayName} under Account › External logins.");
        return Page();
    }

    public async Task<IActionResult> OnPostConfirmationAsync(string? returnUrl = null)
    {
        ReturnUrl = AccountLinks.SafeReturnUrl(returnUrl);
        var info = await signIn.GetExternalLoginInfoAsync();
        if (info is null)
        {
            ErrorMessage = "The provider's answer has expired. Sign in with the provider again.";
            return RedirectToPage("./Login", new { ReturnUrl });
        }
        ProviderDisplayName = info.ProviderDisplayName;
        Consent = new LegalConsent(legal.Published());
        Consent.Check(ModelState, AcceptLegal, LegalStamp, "to create an account");
        if (!ModelState.IsValid)
            return Page();
        return await CreateAccountAsync(info, Input.Email!);
    }

    /// <summary>The provider's address when the provider itself vouches for it (Google's email_verified, GitHub's verified primary).</summary>
    private static string? VerifiedEmail(ExternalLoginInfo info) =>
        string.Equals(info.Principal.FindFirstValue(ExternalLogins.EmailVerifiedClaim), "true", StringComparison.OrdinalIgnoreCase)
            ? info.Principal.FindFirstValue(ClaimTypes.Email)
            : null;

    private async Task<IActionResult> CreateAccountAsync(ExternalLoginInfo info, string address)
    {
        var confirmed = string.Equals(address, VerifiedEmail(info), StringComparison.OrdinalIgnoreCase);
        var user = new IdentityUser { UserName = address, Email = address, EmailConfirmed = confirmed };
        var result = await users.CreateAsync(user);
        if (result.Succeeded)
        {
            result = await users.AddLoginAsync(user, info);
            if (!result.Succeeded)
                await users.DeleteAsync(user);
        }
        if (result.Succeeded)
        {
            try
            {
                await acceptances.RecordAsync(user.Id, Consent.Documents, LegalAcceptances.ViaSignUp, CancellationToken.None);
            }
            catch
            {
                await users.DeleteAsync(user);
                throw;
            }
        }
        if (!result.Succeeded)
        {
            foreach (var error in result.Errors)
                ModelState.AddModelError(string.Empty, error.Description);
            Input = new InputModel { Email = address };
            return Page();
        }

        logger.LogInformation("User {UserId} created an account with {LoginProvider} (email confirmed: {Confirmed})", user.Id, info.LoginProvider, confirmed);
        if (confirmed)
        {
            await signIn.SignInAsync(user, isPersistent: false, info.LoginProvider);
            return LocalRedirect(AccountLinks.AfterSignIn(ReturnUrl));
        }

        jobs.Enqueue<AccountEmailJob>(job => job.ConfirmEmailAsync(user.Id, publicAddress.BaseUrl(Request)));
        return RedirectToPage("./RegisterConfirmation");
    }
}
