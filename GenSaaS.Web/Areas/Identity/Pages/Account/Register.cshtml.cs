using System.ComponentModel.DataAnnotations;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Legal;
using GenSaaS.Web.Features.Shared;
using Hangfire;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;

namespace GenSaaS.Web.Areas.Identity.Pages.Account;

/// <summary>
/// Replaces Identity UI's registration. Whether or not the address already has an account, the asker sees the same
/// page after the same work; the owner of an existing address gets an email saying someone tried. Mail goes out
/// from <see cref="AccountEmailJob"/>, so an SMTP outage cannot fail the request or leave a half-made account.
/// </summary>
[AllowAnonymous]
public sealed class Register(
    UserManager<IdentityUser> users,
    SignInManager<IdentityUser> signIn,
    IPasswordHasher<IdentityUser> hasher,
    AccountThrottle throttle,
    PublicAddress publicAddress,
    IBackgroundJobClient jobs,
    LegalDocuments legal,
    LegalAcceptances acceptances,
    ILogger<Register> logger) : PageModel
{
    public sealed record InputModel
    {
        [Required, EmailAddress, Display(Name = "Email")]
        public string? Email { get; init; }

        [Required, StringLength(100, ErrorMessage = "The password must be {2} to {1} characters long.", MinimumLength = StrongPasswordValidator.MinLength)]
        [DataType(DataType.Password), Display(Name = "Password")]
        public string? Password { get; init; }

        [DataType(DataType.Password), Display(Name = "Confirm password")]
        [Compare(nameof(Password), ErrorMessage = "The two passwords do not match.")]
        public string? ConfirmPassword { get; init; }
    }

    [BindProperty]
    public InputModel Input { get; set; } = new();

    /// <summary>The "I accept" box, ticked (<see cref="LegalConsent.AcceptField"/>).</summary>
    [BindProperty(Name = LegalConsent.AcceptField)]
    public bool AcceptLegal { get; set; }

    [BindProperty(Name = LegalConsent.StampField)]
    public string? LegalStamp { get; set; }

    /// <summary>The operator's published documents the box names; when there are none, no box and nothing is recorded.</summary>
    public LegalConsent Consent { get; private set; } = new([]);

    public string ReturnUrl { get; private set; } = "/";

    public IReadOnlyList<AuthenticationScheme> ExternalLogins { get; private set; } = [];

    public async Task OnGetAsync(string? returnUrl = null)
    {
        ReturnUrl = AccountLinks.SafeReturnUrl(returnUrl);
        ExternalLogins = (await signIn.GetExternalAuthenticationSchemesAsync()).ToList();
        Consent = new LegalConsent(legal.Published());
    }

    public async Task<IActionResult> OnPostAsync(string? returnUrl = null)
    {
        ReturnUrl = AccountLinks.SafeReturnUrl(returnUrl);
        ExternalLogins = (await signIn.GetExternalAuthenticationSchemesAsync()).ToList();
        if (throttle.TryAttempt(HttpContext, AccountAction.Register, Input.Email) is { } wait)
            return await AccountThrottle.RefuseAsync(this, wait);
        Consent = new LegalConsent(legal.Published());
        Consent.Check(ModelState, AcceptLegal, LegalStamp, "to create an account");
        if (!ModelState.IsValid)
            return Page();

        var email = Input.Email!.Trim();
        var user = new IdentityUser { UserName = email, Email = email };
        // The password is judged before the address is looked up, so a refusal cannot tell whether the address is taken.
        foreach (var validator in users.PasswordValidators)
            foreach (var error in (await validator.ValidateAsync(users, user, Input.Password)).Errors)
                ModelState.AddModelError(string.Empty, error.Description);
        if (!ModelState.IsValid)
            return Page();

        if (await users.FindByEmailAsync(email) is { } existing)
        {
            // The same hashing work as creating an account, so the answer takes as long.
            hasher.HashPassword(user, Input.Password!);
            return AlreadyRegistered(existing);
        }

        IdentityResult result;
        try
        {
            result = await users.CreateAsync(user, Input.Password!);
        }
        catch (DbUpdateException ex)
        {
            // Two registrations for one address at once: the unique index let only one through.
            if (await users.FindByEmailAsync(email) is { } raced)
                return AlreadyRegistered(raced);
            logger.LogError(ex, "Registration failed to store the account");
            throw;
        }
        if (!result.Succeeded)
        {
            if (result.Errors.Any(e => e.Code is "DuplicateEmail" or "DuplicateUserName") && await users.FindByEmailAsync(email) is { } taken)
                return AlreadyRegistered(taken);
            foreach (var error in result.Errors)
                ModelState.AddModelError(string.Empty, error.Description);
            return Page();
        }

        try
        {
            await acceptances.RecordAsync(user.Id, Consent.Documents, LegalAcceptances.ViaSignUp, CancellationToken.None);
            jobs.Enqueue<AccountEmailJob>(job => job.ConfirmEmailAsync(user.Id, publicAddress.BaseUrl(Request)));
        }
        catch
        {
            // Without its acceptance or its confirmation mail the account could not be used as made: it is removed, and the
            // person tries again.
            await users.DeleteAsync(user);
            throw;
        }
        logger.LogInformation("User {UserId} registered with a password", user.Id);
        return RedirectToPage("./RegisterConfirmation", new { returnUrl = ReturnUrl });
    }

    private RedirectToPageResult AlreadyRegistered(IdentityUser existing)
    {
        jobs.Enqueue<AccountEmailJob>(job => job.AlreadyRegisteredAsync(existing.Id, publicAddress.BaseUrl(Request)));
        logger.LogInformation("Registration asked for the address of user {UserId}; told its owner", existing.Id);
        return RedirectToPage("./RegisterConfirmation", new { returnUrl = ReturnUrl });
    }
}
