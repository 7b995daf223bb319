using System.Security.Claims;
using System.Text.Encodings.Web;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Plans;
using Microsoft.AspNetCore.Html;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ViewComponents;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// On every page: while Production runs on the Stripe emulator, that nothing paid here is real; and, for a signed-in
/// customer whose prepaid credits fell below their low-balance threshold (until a purchase re-arms it), that they run low.
/// </summary>
public sealed class BillingBannerViewComponent(BillingModeInfo mode, Db db, PurchaseFlags purchases) : ViewComponent
{
    private const string LowBalanceSql = """
        SELECT b.prepaid_balance FROM account_limits AS l JOIN credit_balances AS b ON b.user_id = l.user_id
        WHERE l.user_id = @userId AND l.low_balance_warned_at IS NOT NULL;
        """;

    public async Task<IViewComponentResult> InvokeAsync()
    {
        var html = mode.ShowEmulatorBanner
            ? "<div class=\"banner warning\" role=\"alert\" data-testid=\"emulator-banner\">Payments on this server go to the Stripe emulator: nothing here is charged for real.</div>"
            : "";
        if (UserClaimsPrincipal.FindFirstValue(ClaimTypes.NameIdentifier) is { } userId
            && await db.ReadAsync(connection => connection.Prepared(null, LowBalanceSql, ("@userId", userId)).ExecuteScalar() as long?) is { } prepaid)
        {
            var state = await db.ReadAsync(connection => LowBalance.Read(connection, null, userId));
            // While the operator has bundles (or billing) off, /billing offers none to buy: the banner does not send the customer there.
            var canBuy = await purchases.RefusalAsync(userId, PlanKind.Bundle) is null;
            html += $"<div class=\"banner warning\" role=\"status\" data-testid=\"low-balance-banner\">Your prepaid credits are running low: {prepaid} left" +
                    (state.Threshold is { } threshold ? $", below your warning level of {threshold}" : "") +
                    (canBuy ? $". <a href=\"{HtmlEncoder.Default.Encode("/billing")}\" data-testid=\"low-balance-buy\">Buy more credits</a>.</div>" : ".</div>");
        }
        return new HtmlContentViewComponentResult(new HtmlString(html));
    }
}
