using GenSaaS.Web.Features.Plans;
using Microsoft.AspNetCore.Mvc;

namespace GenSaaS.Web.Features.Billing.PlanChange;

/// <summary><c>/billing/plan/resume</c>: a plan set to end keeps renewing; says what that costs and when, then does it.</summary>
public sealed class Resume(PlanChanges changes, AccountSummaries summaries, PlanCatalog plans, BillingModeInfo mode, TimeProvider clock, ILogger<Resume> logger)
    : PlanChangePage(summaries, plans, mode, clock)
{
    public async Task OnGetAsync(CancellationToken ct) => await LoadAsync(ct);

    public Task<IActionResult> OnPostAsync(CancellationToken ct) =>
        ConfirmAsync(changes, cancel: false, logger, outcome => outcome switch
        {
            PlanChanges.Outcome.Changed => $"Your plan continues: it renews on {Date(PeriodEnd)} for {PlanPrice}.",
            PlanChanges.Outcome.NotCanceling => $"Your plan was not set to end; it renews on {Date(PeriodEnd)}. Nothing changed.",
            PlanChanges.Outcome.SubscriptionEnded => "Your plan has already ended, so it cannot be resumed; subscribe again below.",
            _ => "You have no monthly plan to resume.",
        }, ct);
}
