using GenSaaS.Web.Features.Plans;
using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Billing;

/// <summary><c>/billing</c>: the plans with their prices and a button to choose each, and where the account stands.</summary>
[Authorize]
public sealed class Index(PlanCatalog plans, BillingModeInfo mode, AccountSummaries summaries) : PageModel
{
    public IReadOnlyList<KeyValuePair<string, PlanOptions>> Plans { get; private set; } = [];

    public BillingModeInfo Mode => mode;

    public AccountSummary Status { get; private set; } = null!;

    /// <summary>Set when the portal could not be opened and the customer was sent back here.</summary>
    public bool PortalUnavailable { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        PortalUnavailable = Request.Query["portal"] == "unavailable";
        Plans = plans.Plans.OrderBy(p => p.Value.Kind).ThenBy(p => p.Value.PriceMinor).ToList();
        Status = await summaries.GetAsync(User.FindFirstValue(ClaimTypes.NameIdentifier)!, ct);
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
