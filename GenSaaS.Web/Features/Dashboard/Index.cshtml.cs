using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Generation;
using GenSaaS.Web.Features.Plans;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary>
/// The customer's home: credits by kind, the plan and when it renews, this period's use of the plan, the last 30 days as charts
/// (drawn on the server) and the latest images.
/// </summary>
[Authorize]
public sealed class Index(AccountSummaries summaries, GenerationStore generations, ActivityReader activity, PlanCatalog plans, PurchaseFlags purchases) : PageModel
{
    public const int RecentCount = 8;

    public AccountSummary Summary { get; private set; } = null!;

    public GenerationList Recent { get; private set; } = GenerationList.Empty;

    public Activity Activity { get; private set; } = null!;

    /// <summary>The pay-per-use plan's price per image, when one is configured.</summary>
    public PlanOptions? PayPerUse => plans.Find(PlanCatalog.PayPerUse);

    /// <summary>The ways to pay the operator's feature flags let this customer start now: "Top up" and "Compare plans" follow them.</summary>
    public PurchaseFlags.Offer Offers { get; private set; } = PurchaseFlags.Offer.All;

    public async Task OnGetAsync(CancellationToken ct)
    {
        var userId = GenerationApi.UserId(User);
        Offers = await purchases.OfferAsync(userId);
        Summary = await summaries.GetAsync(userId, ct);
        Recent = await generations.ListAsync(userId, RecentCount, startingAfter: null, ct) ?? GenerationList.Empty;
        Activity = await activity.ReadAsync(userId, ct);
    }

    /// <summary>Share of the fair-use level used, for the meter (0-100).</summary>
    public int MeterPercent => Summary.SoftLimit is > 0 and var soft
        ? (int)Math.Min(100, Summary.UsedThisPeriod * 100 / soft)
        : 0;

    /// <summary>Images left on the plan this period before its hard cap stops generation; null without a plan.</summary>
    public long? AllowanceLeft => Summary is { IsSubscribed: true, HardCap: { } cap } ? Math.Max(0, cap - Summary.UsedThisPeriod) : null;
}
