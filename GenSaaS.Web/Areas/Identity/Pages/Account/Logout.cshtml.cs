using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Areas.Identity.Pages.Account;

/// <summary>
/// Replaces Identity UI's sign-out page: signing out ends the server-side session (the old cookie is refused at once),
/// a GET only asks (a link or image cannot sign anyone out), and the return address is only ever a path of this site.
/// </summary>
[AllowAnonymous]
public sealed class Logout(SignInManager<IdentityUser> signIn, ILogger<Logout> logger) : PageModel
{
    public string ReturnUrl { get; private set; } = "/";

    public void OnGet(string? returnUrl = null) => ReturnUrl = AccountLinks.SafeReturnUrl(returnUrl);

    public async Task<IActionResult> OnPostAsync(string? returnUrl = null)
    {
        if (signIn.IsSignedIn(User))
        {
            await signIn.SignOutAsync();
            logger.LogInformation("User {UserId} signed out", signIn.UserManager.GetUserId(User));
        }
        return LocalRedirect(AccountLinks.SafeReturnUrl(returnUrl));
    }
}
