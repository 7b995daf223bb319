using GenSaaS.Web.Features.Plans;
using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Billing;

/// <summary><c>/billing</c>: the plans with their prices and a button to choose each, and where the account stands.</summary>
[Authorize]
public sealed class Index(PlanCatalog plans, BillingModeInfo mode, BillingOverview overview) : PageModel
{
    public IReadOnlyList<KeyValuePair<string, PlanOptions>> Plans { get; private set; } = [];

    public BillingModeInfo Mode => mode;

    public BillingStatus Status { get; private set; } = new(0, 0, null, null, false, null, null);

    public async Task OnGetAsync(CancellationToken ct)
    {
        Plans = plans.Plans.OrderBy(p => p.Value.Kind).ThenBy(p => p.Value.PriceMinor).ToList();
        Status = await overview.StatusAsync(User.FindFirstValue(ClaimTypes.NameIdentifier)!, ct);
    }

    public static string PriceLabel(PlanOptions plan) => plan.Kind switch
    {
        PlanKind.PayPerUse => $"{BillingOverview.Money(plan.PriceMinor, plan.Currency)} per generation",
        PlanKind.Subscription => $"{BillingOverview.Money(plan.PriceMinor, plan.Currency)} a month",
        _ => $"{BillingOverview.Money(plan.PriceMinor, plan.Currency)} for {plan.Credits} credits",
    };

    public static string ChooseLabel(PlanOptions plan) => plan.Kind switch
    {
        PlanKind.PayPerUse => "Save a card",
        PlanKind.Subscription => "Subscribe",
        _ => "Buy",
    };
}
