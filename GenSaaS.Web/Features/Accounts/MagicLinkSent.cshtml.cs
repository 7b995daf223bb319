using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Accounts;

[AllowAnonymous]
public sealed class MagicLinkSent : PageModel
{
    public void OnGet()
    {
    }
}
