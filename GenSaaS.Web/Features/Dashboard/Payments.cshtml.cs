using Microsoft.AspNetCore.Authorization;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary><c>/dashboard/payments</c>: the customer's payments with Stripe's receipt or invoice for each, newest first.</summary>
[Authorize]
public sealed class Payments(PaymentHistory history) : HistoryPageModel<PaymentPage>("/dashboard/payments", "payment-history", "_PaymentHistory", PaymentPage.Empty,
    "That page of your payments is not one of yours (the link is broken or belongs to someone else); showing the newest.")
{
    protected override Task<PaymentPage?> ReadAsync(string userId, int limit, string? startingAfter, CancellationToken ct) =>
        history.PageAsync(userId, limit, startingAfter, ct);
}
