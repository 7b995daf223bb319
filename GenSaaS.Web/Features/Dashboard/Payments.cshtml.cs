using GenSaaS.Web.Features.Generation;
using Htmx;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary><c>/dashboard/payments</c>: the customer's payments with Stripe's receipt or invoice for each, newest first.</summary>
[Authorize]
public sealed class Payments(PaymentHistory history) : PageModel
{
    public const int DefaultLimit = 25;

    public sealed record View(PaymentPage Page, string? StartingAfter, int Limit, string? Notice = null)
    {
        public string Link(string? startingAfter) =>
            "/dashboard/payments" + (startingAfter is null
                ? Limit == DefaultLimit ? "" : $"?limit={Limit}"
                : $"?starting_after={Uri.EscapeDataString(startingAfter)}" + (Limit == DefaultLimit ? "" : $"&limit={Limit}"));
    }

    public View History { get; private set; } = new(PaymentPage.Empty, null, DefaultLimit);

    public async Task<IActionResult> OnGetAsync([FromQuery(Name = "starting_after")] string? startingAfter, int? limit, CancellationToken ct)
    {
        var userId = GenerationApi.UserId(User);
        var size = limit ?? DefaultLimit;
        var after = string.IsNullOrEmpty(startingAfter) ? null : startingAfter;
        History = await history.PageAsync(userId, size, after, ct) is { } page
            ? new View(page, after, size)
            : new View(await history.PageAsync(userId, size, null, ct) ?? PaymentPage.Empty, null, size,
                "That page of your payments is not one of yours (the link is broken or belongs to someone else); showing the newest.");
        Response.Headers.Vary = "HX-Request";
        if (Request.IsHtmx() && string.Equals(Request.Headers["HX-Target"], "payment-history", StringComparison.Ordinal))
            return Partial("_PaymentHistory", History);
        return Page();
    }
}
