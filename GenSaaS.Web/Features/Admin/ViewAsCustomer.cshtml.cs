using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Dashboard;
using GenSaaS.Web.Features.Generation;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// <c>/admin/customers/{id}/view?reason=…</c>: "view as customer", the data of the customer's dashboard pages (credits, plan,
/// this period, the last 30 days, latest images, credit history, payments) drawn inside the admin area. It is read-only: the
/// admin stays signed in as themselves, the page has no form and no link into the customer's own pages, and nothing is
/// written for the customer (an account that has no balance yet is not given one). Each view is audited as a read
/// (<c>customer.view_as</c>) with the reason asked for first.
/// </summary>
[Authorize(Policy = Roles.Admin)]
public sealed class ViewAsCustomer(CustomerDirectory directory, AccountSummaries summaries, ActivityReader activity, GenerationStore generations,
    CreditHistory credits, PaymentHistory payments, AuditLog audit, Db db) : PageModel
{
    public const int Lines = 25;

    [BindProperty(SupportsGet = true, Name = "id")]
    public string Id { get; set; } = "";

    [BindProperty(SupportsGet = true, Name = "reason")]
    public string? Reason { get; set; }

    public CustomerRow? Customer { get; private set; }

    /// <summary>Null when the customer has no balance yet (never used the app since signing up).</summary>
    public AccountSummary? Summary { get; private set; }

    public Activity? Activity { get; private set; }

    public GenerationList Recent { get; private set; } = GenerationList.Empty;

    public CreditPage Credits { get; private set; } = CreditPage.Empty;

    public PaymentPage Payments { get; private set; } = PaymentPage.Empty;

    /// <summary>True once a reason was given and the view was audited: the data is shown.</summary>
    public bool Showing { get; private set; }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Customer = await directory.FindAsync(Id, ct);
        if (Customer is null)
            return NotFound();
        if (Reason is null)
            return Page();
        if (AccountActions.ReasonProblem(Reason) is { } problem)
        {
            ModelState.AddModelError(nameof(Reason), problem);
            return Page();
        }
        Reason = Reason.Trim();
        // The customer's summary makes their balance on first use; here only an existing one is read.
        if (await db.ReadAsync(c => CreditLedger.ReadBalance(c, null, Id), ct) is not null)
            Summary = await summaries.GetAsync(Id, ct);
        Activity = await activity.ReadAsync(Id, ct);
        Recent = await generations.ListAsync(Id, Dashboard.Index.RecentCount, startingAfter: null, ct) ?? GenerationList.Empty;
        Credits = await credits.PageAsync(Id, Lines, null, ct) ?? CreditPage.Empty;
        Payments = await payments.PageAsync(Id, Lines, null, ct) ?? PaymentPage.Empty;
        await audit.AppendAsync(AuditActor.From(User), AuditActions.CustomerViewAs, Id, Reason, null,
            new { Pages = "dashboard, credits, payments", Route = $"GET {Request.Path}" }, ct);
        Showing = true;
        return Page();
    }
}
