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
public sealed class ForgotPassword(UserManager<IdentityUser> users, AccountThrottle throttle, PublicAddress publicAddress, IBackgroundJobClient jobs) : PageModel
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
        if (throttle.TryAttempt(HttpContext, AccountAction.ForgotPassword, Input.Email) is { } wait)
            return await AccountThrottle.RefuseAsync(this, wait);
        if (!ModelState.IsValid)
            return Page();

        // Unknown and unconfirmed addresses get the same answer and no mail.
        if (await users.FindByEmailAsync(Input.Email!) is { EmailConfirmed: true } user)
            jobs.Enqueue<AccountEmailJob>(job => job.ResetPasswordAsync(user.Id, publicAddress.BaseUrl(Request)));
        return RedirectToPage("./ForgotPasswordConfirmation");
    }
}
