using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary>The operator's landing page: where each admin tool lives.</summary>
[Authorize(Policy = Roles.Admin)]
public sealed class Index : PageModel
{
    public void OnGet()
    {
    }
}
