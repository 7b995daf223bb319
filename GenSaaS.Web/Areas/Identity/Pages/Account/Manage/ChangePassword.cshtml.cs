using System.ComponentModel.DataAnnotations;
using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Areas.Identity.Pages.Account.Manage;

/// <summary>Identity UI's page with the server's password rule on the form (at least 10 characters, not guessable).</summary>
public sealed class ChangePassword(UserManager<IdentityUser> users, SignInManager<IdentityUser> signIn, ILogger<ChangePassword> logger) : PageModel
{
    public sealed record InputModel
    {
        [Required, DataType(DataType.Password), Display(Name = "Current password")]
        public string? OldPassword { get; init; }

        [Required, StringLength(100, ErrorMessage = "The {0} must be at least {2} and at max {1} characters long.", MinimumLength = StrongPasswordValidator.MinLength)]
        [DataType(DataType.Password), Display(Name = "New password")]
        public string? NewPassword { get; init; }

        [DataType(DataType.Password), Display(Name = "Confirm new password")]
        [Compare(nameof(NewPassword), ErrorMessage = "The new password and confirmation password do not match.")]
        public string? ConfirmPassword { get; init; }
    }

    [BindProperty]
    public InputModel Input { get; set; } = new();

    [TempData]
    public string? StatusMessage { get; set; }

    public async Task<IActionResult> OnGetAsync()
    {
        if (await users.GetUserAsync(User) is not { } user)
            return NotFound($"Unable to load user with ID '{users.GetUserId(User)}'.");
        if (!await users.HasPasswordAsync(user))
            return RedirectToPage("./SetPassword");
        return Page();
    }

    public async Task<IActionResult> OnPostAsync()
    {
        if (!ModelState.IsValid)
            return Page();
        if (await users.GetUserAsync(User) is not { } user)
            return NotFound($"Unable to load user with ID '{users.GetUserId(User)}'.");

        var result = await users.ChangePasswordAsync(user, Input.OldPassword!, Input.NewPassword!);
        if (!result.Succeeded)
        {
            foreach (var error in result.Errors)
                ModelState.AddModelError(string.Empty, error.Description);
            return Page();
        }
        await signIn.RefreshSignInAsync(user);
        logger.LogInformation("User {UserId} changed their password", user.Id);
        StatusMessage = "Your password has been changed.";
        return RedirectToPage();
    }
}
