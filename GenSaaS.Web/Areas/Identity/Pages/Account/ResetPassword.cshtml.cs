using System.ComponentModel.DataAnnotations;
using System.Text;
using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.AspNetCore.WebUtilities;

namespace GenSaaS.Web.Areas.Identity.Pages.Account;

/// <summary>
/// Replaces Identity UI's page: the password rule is the server's (at least 10 characters, not guessable) on the form
/// too, a refused password is reported before the address is looked up, and a mangled code is a 400, not a 500.
/// </summary>
[AllowAnonymous]
public sealed class ResetPassword(UserManager<IdentityUser> users) : PageModel
{
    public sealed record InputModel
    {
        [Required, EmailAddress, Display(Name = "Email")]
        public string? Email { get; init; }

        [Required, StringLength(100, ErrorMessage = "The {0} must be at least {2} and at max {1} characters long.", MinimumLength = StrongPasswordValidator.MinLength)]
        [DataType(DataType.Password), Display(Name = "Password")]
        public string? Password { get; init; }

        [DataType(DataType.Password), Display(Name = "Confirm password")]
        [Compare(nameof(Password), ErrorMessage = "The password and confirmation password do not match.")]
        public string? ConfirmPassword { get; init; }

        [Required]
        public string? Code { get; init; }
    }

    [BindProperty]
    public InputModel Input { get; set; } = new();

    public IActionResult OnGet(string? code = null)
    {
        if (string.IsNullOrEmpty(code))
            return BadRequest("A code must be supplied for password reset.");
        try
        {
            Input = new InputModel { Code = Encoding.UTF8.GetString(WebEncoders.Base64UrlDecode(code)) };
        }
        catch (FormatException)
        {
            return BadRequest("The password reset code is not valid.");
        }
        return Page();
    }

    public async Task<IActionResult> OnPostAsync()
    {
        if (!ModelState.IsValid)
            return Page();

        var email = Input.Email!.Trim();
        foreach (var validator in users.PasswordValidators)
            foreach (var error in (await validator.ValidateAsync(users, new IdentityUser { UserName = email, Email = email }, Input.Password)).Errors)
                ModelState.AddModelError(string.Empty, error.Description);
        if (!ModelState.IsValid)
            return Page();

        var user = await users.FindByEmailAsync(email);
        if (user is null)
            // Don't reveal that the user does not exist.
            return RedirectToPage("./ResetPasswordConfirmation");

        var result = await users.ResetPasswordAsync(user, Input.Code!, Input.Password!);
        if (result.Succeeded)
            return RedirectToPage("./ResetPasswordConfirmation");
        foreach (var error in result.Errors)
            ModelState.AddModelError(string.Empty, error.Description);
        return Page();
    }
}
