using Microsoft.AspNetCore.Authorization;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary><c>/dashboard/credits</c>: every change of the customer's credits with its reason, newest first, a page at a time.</summary>
[Authorize]
public sealed class Credits(CreditHistory history) : HistoryPageModel<CreditPage>("/dashboard/credits", "credit-history", "_CreditHistory", CreditPage.Empty,
    "That page of your credit history is not one of yours (the link is broken or belongs to someone else); showing the newest lines.")
{
    protected override Task<CreditPage?> ReadAsync(string userId, int limit, string? startingAfter, CancellationToken ct) =>
        history.PageAsync(userId, limit, startingAfter, ct);
}
