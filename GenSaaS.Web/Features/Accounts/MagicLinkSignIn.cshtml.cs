using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>
/// Where a sign-in link lands. The GET only checks the link and shows a "Sign in" button; the POST spends it.
/// Mail scanners and link previewers follow GETs, and would otherwise use up (or worse, use) the link first.
/// </summary>
[AllowAnonymous]
public sealed class MagicLinkSignIn(MagicLinks links, UserManager<IdentityUser> users, SignInManager<IdentityUser> signIn, ILogger<MagicLinkSignIn> logger) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public string? Token { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    /// <summary>False when the link is unknown, expired or already used: the page then offers a new one.</summary>
    public bool Usable { get; private set; }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Usable = await links.IsUsableAsync(Token, ct);
        if (!Usable)
            Response.StatusCode = StatusCodes.Status410Gone;
        return Page();
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        var userId = await links.ConsumeAsync(Token, ct);
        var user = userId is null ? null : await users.FindByIdAsync(userId);
        if (user is null || await users.IsLockedOutAsync(user))
        {
            logger.LogInformation("Refused a sign-in link: unknown, expired, used, or user locked out ({UserId})", userId);
            Usable = false;
            Response.StatusCode = StatusCodes.Status410Gone;
            return Page();
        }

        // The link reached the inbox, which is what confirming the address proves.
        if (!user.EmailConfirmed)
        {
            user.EmailConfirmed = true;
            await users.UpdateAsync(user);
        }
        await users.ResetAccessFailedCountAsync(user);
        await signIn.SignInAsync(user, isPersistent: false, authenticationMethod: "magic-link");
        logger.LogInformation("User {UserId} signed in with a sign-in link", user.Id);
        return LocalRedirect(AccountLinks.AfterSignIn(ReturnUrl));
    }
}
