using System.ComponentModel.DataAnnotations;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Shared;
using Hangfire;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Areas.Identity.Pages.Account;

/// <summary>Replaces Identity UI's page: the link is built from App:PublicBaseUrl and sent by a background job.</summary>
[AllowAnonymous]
public sealed class ResendEmailConfirmation(UserManager<IdentityUser> users, AccountThrottle throttle, PublicAddress publicAddress, IBackgroundJobClient jobs) : PageModel
{
    public sealed record InputModel
    {
        [Required, EmailAddress, Display(Name = "Email")]
        public string? Email { get; init; }
    }

    [BindProperty]
    public InputModel Input { get; set; } = new();

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync()
    {
        if (throttle.TryAttempt(HttpContext, AccountAction.ResendConfirmation, Input.Email) is { } wait)
            return await AccountThrottle.RefuseAsync(this, wait);
        if (!ModelState.IsValid)
            return Page();

        // Unknown and already confirmed addresses get the same answer and no mail.
        if (await users.FindByEmailAsync(Input.Email!) is { EmailConfirmed: false } user)
            jobs.Enqueue<AccountEmailJob>(job => job.ConfirmEmailAsync(user.Id, publicAddress.BaseUrl(Request)));
        ModelState.AddModelError(string.Empty, "Verification email sent. Please check your email.");
        return Page();
    }
}
