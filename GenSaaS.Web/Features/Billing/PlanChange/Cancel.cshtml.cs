using GenSaaS.Web.Features.Plans;
using Microsoft.AspNetCore.Mvc;

namespace GenSaaS.Web.Features.Billing.PlanChange;

/// <summary><c>/billing/plan/cancel</c>: says what ending the plan at its period end costs and when it takes effect, then does it.</summary>
public sealed class Cancel(PlanChanges changes, AccountSummaries summaries, PlanCatalog plans, BillingModeInfo mode, TimeProvider clock, ILogger<Cancel> logger)
    : PlanChangePage(summaries, plans, mode, clock)
{
    public async Task OnGetAsync(CancellationToken ct) => await LoadAsync(ct);

    public Task<IActionResult> OnPostAsync(CancellationToken ct) =>
        ConfirmAsync(changes, cancel: true, logger, outcome => outcome switch
        {
            PlanChanges.Outcome.Changed => $"Your plan is canceled at the end of this period: it keeps working until {Date(PeriodEnd)} and is not charged again.",
            PlanChanges.Outcome.AlreadyCanceling => $"Your plan was already set to end on {Date(PeriodEnd)}; nothing changed.",
            PlanChanges.Outcome.SubscriptionEnded => "Your plan has already ended; nothing changed.",
            _ => "You have no monthly plan to cancel.",
        }, ct);
}
