using Microsoft.AspNetCore.Mvc;

namespace GenSaaS.Web.Features.Billing;

/// <summary>On every page while Production runs on the Stripe emulator: nothing paid here is real.</summary>
public sealed class BillingBannerViewComponent(BillingModeInfo mode) : ViewComponent
{
    public IViewComponentResult Invoke() => mode.ShowEmulatorBanner
        ? new Microsoft.AspNetCore.Mvc.ViewComponents.HtmlContentViewComponentResult(new Microsoft.AspNetCore.Html.HtmlString(
            "<div class=\"banner warning\" role=\"alert\" data-testid=\"emulator-banner\">Payments on this server go to the Stripe emulator: nothing here is charged for real.</div>"))
        : Content(string.Empty);
}
