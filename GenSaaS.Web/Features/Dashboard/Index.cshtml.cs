using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Generation;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary>The customer's home: credits, plan, this period's usage and the latest images.</summary>
[Authorize]
public sealed class Index(AccountSummaries summaries, GenerationStore generations) : PageModel
{
    public const int RecentCount = 8;

    public AccountSummary Summary { get; private set; } = null!;

    public GenerationList Recent { get; private set; } = GenerationList.Empty;

    public async Task OnGetAsync(CancellationToken ct)
    {
        var userId = GenerationApi.UserId(User);
        Summary = await summaries.GetAsync(userId, ct);
        Recent = await generations.ListAsync(userId, RecentCount, startingAfter: null, ct) ?? GenerationList.Empty;
    }

    /// <summary>Share of the fair-use level used, for the meter (0-100).</summary>
    public int MeterPercent => Summary.SoftLimit is > 0 and var soft
        ? (int)Math.Min(100, Summary.UsedThisPeriod * 100 / soft)
        : 0;
}
