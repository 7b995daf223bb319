using System.ComponentModel.DataAnnotations;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.UI.Services;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>Asks for a one-time sign-in link by email. The answer is the same whether or not the address has an account.</summary>
[AllowAnonymous]
public sealed class MagicLink(UserManager<IdentityUser> users, MagicLinks links, AccountLinks urls, IEmailSender email, ILogger<MagicLink> logger) : PageModel
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

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        if (!ModelState.IsValid)
            return Page();

        var returnUrl = AccountLinks.SafeReturnUrl(ReturnUrl);
        var user = await users.FindByEmailAsync(Input.Email!);
        if (user is null)
            logger.LogInformation("Sign-in link asked for an address without an account");
        else if (await users.IsLockedOutAsync(user))
            logger.LogWarning("Sign-in link asked for locked-out user {UserId}", user.Id);
        else if (await links.CreateAsync(user.Id, ct) is not { } token)
            logger.LogWarning("Sign-in link refused for user {UserId}: too many asked for recently", user.Id);
        else
        {
            var link = urls.MagicLink(Request, token, returnUrl);
            await email.SendEmailAsync(user.Email!, "Your GenSaaS sign-in link",
                $"""
                <p>Hello,</p>
                <p><a href="{HtmlEncoder.Default.Encode(link)}">Sign in to GenSaaS</a></p>
                <p>The link works once and for {MagicLinks.Lifetime.TotalMinutes:0} minutes. If you did not ask for it, ignore this email.</p>
                """);
            logger.LogInformation("Sent a sign-in link to user {UserId}", user.Id);
        }
        return RedirectToPage("/Accounts/MagicLinkSent");
    }
}
