using System.ComponentModel.DataAnnotations;
using GenSaaS.Web.Features.Shared;
using Hangfire;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>Asks for a one-time sign-in link by email. The answer is the same whether or not the address has an account.</summary>
[AllowAnonymous]
public sealed class MagicLink(UserManager<IdentityUser> users, AccountThrottle throttle, PublicAddress publicAddress, IBackgroundJobClient jobs, ILogger<MagicLink> logger) : PageModel
{
    public sealed record InputModel
    {
        [Required, EmailAddress, Display(Name = "Email")]
        public string? Email { get; init; }
    }

    [BindProperty]
    public InputModel Input { get; set; } = new();

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync()
    {
        if (throttle.TryAttempt(HttpContext, AccountAction.MagicLink, Input.Email) is { } wait)
            return await AccountThrottle.RefuseAsync(this, wait);
        if (!ModelState.IsValid)
            return Page();

        var returnUrl = AccountLinks.SafeReturnUrl(ReturnUrl);
        var user = await users.FindByEmailAsync(Input.Email!);
        if (user is null)
            logger.LogInformation("Sign-in link asked for an address without an account");
        else
            jobs.Enqueue<AccountEmailJob>(job => job.MagicLinkAsync(user.Id, publicAddress.BaseUrl(Request), returnUrl));
        return RedirectToPage("/Accounts/MagicLinkSent");
    }
}
