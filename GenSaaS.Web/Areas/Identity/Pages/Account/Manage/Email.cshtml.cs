using System.ComponentModel.DataAnnotations;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Shared;
using Hangfire;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Areas.Identity.Pages.Account.Manage;

/// <summary>Replaces Identity UI's page: the confirmation links are built from App:PublicBaseUrl and sent by a background job.</summary>
public sealed class Email(UserManager<IdentityUser> users, PublicAddress publicAddress, IBackgroundJobClient jobs) : PageModel
{
    public sealed record InputModel
    {
        [Required, EmailAddress, Display(Name = "New email")]
        public string? NewEmail { get; init; }
    }

    public string? CurrentEmail { get; private set; }

    public bool IsEmailConfirmed { get; private set; }

    [TempData]
    public string? StatusMessage { get; set; }

    [BindProperty]
    public InputModel Input { get; set; } = new();

    private async Task LoadAsync(IdentityUser user)
    {
        CurrentEmail = await users.GetEmailAsync(user);
        IsEmailConfirmed = await users.IsEmailConfirmedAsync(user);
        Input = new InputModel { NewEmail = CurrentEmail };
    }

    public async Task<IActionResult> OnGetAsync()
    {
        if (await users.GetUserAsync(User) is not { } user)
            return NotFound($"Unable to load user with ID '{users.GetUserId(User)}'.");
        await LoadAsync(user);
        return Page();
    }

    public async Task<IActionResult> OnPostChangeEmailAsync()
    {
        if (await users.GetUserAsync(User) is not { } user)
            return NotFound($"Unable to load user with ID '{users.GetUserId(User)}'.");
        if (!ModelState.IsValid)
        {
            var requested = Input;
            await LoadAsync(user);
            Input = requested;
            return Page();
        }

        var newEmail = Input.NewEmail!.Trim();
        if (!string.Equals(newEmail, await users.GetEmailAsync(user), StringComparison.OrdinalIgnoreCase))
        {
            jobs.Enqueue<AccountEmailJob>(job => job.ChangeEmailAsync(user.Id, newEmail, publicAddress.BaseUrl(Request)));
            StatusMessage = "Confirmation link to change email sent. Please check your email.";
            return RedirectToPage();
        }
        StatusMessage = "Your email is unchanged.";
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostSendVerificationEmailAsync()
    {
        if (await users.GetUserAsync(User) is not { } user)
            return NotFound($"Unable to load user with ID '{users.GetUserId(User)}'.");
        jobs.Enqueue<AccountEmailJob>(job => job.ConfirmEmailAsync(user.Id, publicAddress.BaseUrl(Request)));
        StatusMessage = "Verification email sent. Please check your email.";
        return RedirectToPage();
    }
}
