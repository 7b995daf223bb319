using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// <c>/admin/billing/events</c>: the Stripe events received, newest first, 50 a page by cursor ("Older"), searched by type,
/// object id or customer (a Stripe customer id, an email or a user id), optionally only the failed ones. Each event opens
/// on its own page with its payload, and a failed one offers Replay there (<see cref="StripeEvent"/>). The query parameters
/// (<c>type</c>, <c>object</c>, <c>customer</c>, <c>failed=true</c>, <c>status</c>, <c>starting_after</c>) are documented in
/// docs/admin.md so other pages link here.
/// </summary>
[Authorize(Policy = Roles.Admin)]
public sealed class StripeEvents(StripeEventLog log) : PageModel
{
    public const int PageSize = 50;

    [BindProperty(SupportsGet = true, Name = "type")]
    public string? Type { get; set; }

    [BindProperty(SupportsGet = true, Name = "object")]
    public string? ObjectId { get; set; }

    [BindProperty(SupportsGet = true, Name = "customer")]
    public string? Customer { get; set; }

    [BindProperty(SupportsGet = true, Name = "failed")]
    public string? Failed { get; set; }

    /// <summary>Any stored status (<c>failed</c>, <c>applied</c>, <c>ignored</c>, <c>received</c>); <c>failed=true</c> is the same as <c>status=failed</c>.</summary>
    [BindProperty(SupportsGet = true, Name = "status")]
    public string? Status { get; set; }

    [BindProperty(SupportsGet = true, Name = "starting_after")]
    public string? StartingAfter { get; set; }

    [TempData]
    public string? StatusMessage { get; set; }

    public IReadOnlyList<StripeEventRow> Rows { get; private set; } = [];

    public bool HasMore { get; private set; }

    /// <summary>The Stripe customer the customer search resolved to (from an email or user id), shown beside the filter.</summary>
    public string? ResolvedCustomer { get; private set; }

    public bool FailedOnly => Failed is "true" or "on" || Status == "failed";

    /// <summary>The query string of the current filter (no cursor), for the "Older" link.</summary>
    public Dictionary<string, string?> FilterRoute => new()
    {
        ["type"] = Blank(Type), ["object"] = Blank(ObjectId), ["customer"] = Blank(Customer),
        ["failed"] = FailedOnly ? "true" : null, ["status"] = Status is "failed" or null or "" ? null : Status,
    };

    private static string? Blank(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

    public async Task OnGetAsync(CancellationToken ct)
    {
        var status = FailedOnly ? "failed" : Blank(Status);
        if (status is not null && !StripeEventFilter.Statuses.Contains(status))
        {
            ModelState.AddModelError(nameof(Status), $"Status must be one of {string.Join(", ", StripeEventFilter.Statuses)}.");
            return;
        }
        string? customerId = null;
        if (Blank(Customer) is { } customer)
        {
            customerId = await log.ResolveCustomerAsync(customer, ct);
            if (customerId is null)
            {
                ModelState.AddModelError(nameof(Customer), $"No customer with a Stripe customer id matches '{customer}' (a cus_… id, an email or a user id).");
                return;
            }
            ResolvedCustomer = customerId == customer ? null : customerId;
        }
        var filter = new StripeEventFilter(Blank(Type), Blank(ObjectId), customerId, status);
        var page = await log.PageAsync(filter, PageSize, Blank(StartingAfter), ct);
        if (page is null)
        {
            ModelState.AddModelError(nameof(StartingAfter), "That page's starting event is not stored; showing the newest.");
            page = await log.PageAsync(filter, PageSize, null, ct);
        }
        (var rows, HasMore) = page!.Value;
        Rows = rows;
    }
}
