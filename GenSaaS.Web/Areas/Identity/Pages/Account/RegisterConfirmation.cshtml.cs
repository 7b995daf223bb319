using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Areas.Identity.Pages.Account;

/// <summary>
/// Replaces Identity UI's page, which looks the address up (404 for an unknown one) and so tells whether it has an account.
/// This one says the same to everybody.
/// </summary>
[AllowAnonymous]
public sealed class RegisterConfirmation : PageModel
{
    public void OnGet()
    {
    }
}
