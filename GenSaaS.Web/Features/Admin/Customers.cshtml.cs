using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary><c>/admin/customers</c>: find a customer by email, name or Stripe customer id; filter by plan and status; newest first, by cursor.</summary>
[Authorize(Policy = Roles.Admin)]
public sealed class Customers(CustomerDirectory directory, TimeProvider clock) : PageModel
{
    public const int PageSize = 50;

    [BindProperty(SupportsGet = true, Name = "q")]
    public string? Query { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Plan { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Status { get; set; }

    [BindProperty(SupportsGet = true, Name = "starting_after")]
    public string? StartingAfter { get; set; }

    public IReadOnlyList<CustomerRow> Rows { get; private set; } = [];

    public bool HasMore { get; private set; }

    public DateTime Now { get; private set; }

    public Dictionary<string, string?> FilterRoute => new() { ["q"] = Query, ["plan"] = Plan, ["status"] = Status };

    public async Task OnGetAsync(CancellationToken ct)
    {
        Now = clock.GetUtcNow().UtcDateTime;
        if (Plan is { Length: > 0 } && !CustomerQuery.Plans.Contains(Plan))
            ModelState.AddModelError(nameof(Plan), $"Plan must be one of {string.Join(", ", CustomerQuery.Plans)}.");
        if (Status is { Length: > 0 } && !CustomerQuery.Statuses.Contains(Status))
            ModelState.AddModelError(nameof(Status), $"Status must be one of {string.Join(", ", CustomerQuery.Statuses)}.");
        if (!ModelState.IsValid)
            return;
        string? afterCreatedAt = null;
        if (StartingAfter is { Length: > 0 } after)
        {
            afterCreatedAt = await directory.CursorAsync(after, ct);
            if (afterCreatedAt is null)
            {
                ModelState.AddModelError(nameof(StartingAfter), "That page no longer exists; start from the first page.");
                return;
            }
        }
        var query = new CustomerQuery(Query, Plan is { Length: > 0 } ? Plan : null, Status is { Length: > 0 } ? Status : null);
        (var rows, HasMore) = await directory.PageAsync(query, PageSize, afterCreatedAt, StartingAfter, ct);
        Rows = rows;
    }
}
