using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Operations;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary>The operator's landing page: open alerts first, then where each admin tool lives.</summary>
[Authorize(Policy = Roles.Admin)]
public sealed class Index(Alerts alerts) : PageModel
{
    public IReadOnlyList<AlertRow> OpenAlerts { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct) => OpenAlerts = await alerts.OpenAsync(ct);
}
