using Microsoft.AspNetCore.Mvc;

namespace GenSaaS.Web.Features.Shared;

/// <summary>The header's account summary; the credits feature fills in balance and plan.</summary>
public sealed class AccountStatusViewComponent : ViewComponent
{
    public IViewComponentResult Invoke() => Content(string.Empty);
}
