using GenSaaS.Web.Features.Generation;
using Htmx;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary><c>/dashboard/credits</c>: every change of the customer's credits with its reason, newest first, a page at a time.</summary>
[Authorize]
public sealed class Credits(CreditHistory history) : PageModel
{
    public const int DefaultLimit = 25;

    /// <summary>The page shown, the cursor it starts after (null: the newest) and the page size asked for.</summary>
    public sealed record View(CreditPage Page, string? StartingAfter, int Limit, string? Notice = null)
    {
        public string Link(string? startingAfter) =>
            "/dashboard/credits" + (startingAfter is null
                ? Limit == DefaultLimit ? "" : $"?limit={Limit}"
                : $"?starting_after={Uri.EscapeDataString(startingAfter)}" + (Limit == DefaultLimit ? "" : $"&limit={Limit}"));
    }

    public View History { get; private set; } = new(CreditPage.Empty, null, DefaultLimit);

    /// <summary>
    /// A page of the history. <c>limit</c> (1-100) is checked before this runs (QueryGuard); a cursor that is not one of the
    /// customer's lines shows the newest page with a note rather than an error, as the image history does.
    /// </summary>
    public async Task<IActionResult> OnGetAsync([FromQuery(Name = "starting_after")] string? startingAfter, int? limit, CancellationToken ct)
    {
        var userId = GenerationApi.UserId(User);
        var size = limit ?? DefaultLimit;
        var after = string.IsNullOrEmpty(startingAfter) ? null : startingAfter;
        History = await history.PageAsync(userId, size, after, ct) is { } page
            ? new View(page, after, size)
            : new View(await history.PageAsync(userId, size, null, ct) ?? CreditPage.Empty, null, size,
                "That page of your credit history is not one of yours (the link is broken or belongs to someone else); showing the newest lines.");
        Response.Headers.Vary = "HX-Request";
        if (Request.IsHtmx() && string.Equals(Request.Headers["HX-Target"], "credit-history", StringComparison.Ordinal))
            return Partial("_CreditHistory", History);
        return Page();
    }
}
