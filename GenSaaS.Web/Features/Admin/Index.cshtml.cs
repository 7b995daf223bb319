using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Operations;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// The operator's overview: today's and this month's generations and revenue, subscriptions and MRR, what needs a person
/// (failed webhooks, failed captures, holds near expiry, open alerts), each linking to its list, and the last 30 days as charts.
/// </summary>
[Authorize(Policy = Roles.Admin)]
public sealed class Index(Alerts alerts, OverviewReader overview) : PageModel
{
    public IReadOnlyList<AlertRow> OpenAlerts { get; private set; } = [];

    public OverviewFigures Figures { get; private set; } = null!;

    public async Task OnGetAsync(CancellationToken ct)
    {
        Figures = await overview.ReadAsync(ct);
        OpenAlerts = await alerts.OpenAsync(ct);
    }
}
