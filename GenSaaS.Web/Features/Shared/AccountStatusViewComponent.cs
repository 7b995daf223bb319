using System.Security.Claims;
using GenSaaS.Web.Features.Billing;
using Microsoft.AspNetCore.Mvc;

namespace GenSaaS.Web.Features.Shared;

/// <summary>The header's account summary: credits left and the plan.</summary>
public sealed class AccountStatusViewComponent(AccountSummaries summaries) : ViewComponent
{
    public async Task<IViewComponentResult> InvokeAsync()
    {
        var userId = UserClaimsPrincipal.FindFirstValue(ClaimTypes.NameIdentifier);
        if (userId is null)
            return Content(string.Empty);
        return View("~/Features/Shared/_AccountStatus.cshtml", await summaries.GetAsync(userId, HttpContext.RequestAborted));
    }
}
