using System.Security.Claims;
using GenSaaS.Web.Features.Plans;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Billing.PlanChange;

/// <summary>
/// <c>/billing/plan/subscribe</c>: before Stripe Checkout for the monthly plan, says what it costs, that the first month is
/// charged now and when it renews, and what becomes of the customer's credits and saved card; the confirm button opens
/// Checkout. A customer who already has a live plan is refused (409) and pointed to where it is managed.
/// </summary>
public sealed class Subscribe(Checkout checkout, AccountSummaries summaries, PlanCatalog plans, BillingModeInfo mode, PurchaseFlags purchases, TimeProvider clock,
    IOptions<BillingOptions> options, ILogger<Subscribe> logger)
    : PlanChangePage(summaries, plans, mode, clock)
{
    /// <summary>The customer already has a live subscription (see <see cref="LiveSubscriptions"/>): nothing is offered but managing it.</summary>
    public bool AlreadySubscribed => LiveSubscriptions.IsLive(Status.Subscription?.Status);

    /// <summary>Set when Stripe refused or did not answer the Checkout Session: nothing was charged, the page says so.</summary>
    public bool CheckoutUnavailable { get; private set; }

    /// <summary>Stripe Tax adds tax at Checkout (Billing:Tax): the price shown is before tax.</summary>
    public bool Taxed => options.Value.Tax;

    /// <summary>When a plan bought now first renews: Stripe bills a monthly price one calendar month after it starts (the 31st becomes the month's last day).</summary>
    public string RenewsOn => Date(Now.AddMonths(1));

    /// <summary>Why the operator's feature flags refuse the monthly plan to this customer now (no confirm button is shown), else null.</summary>
    public string? NotAvailable { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        await LoadAsync(ct);
        if (Mode.IsEnabled)
            NotAvailable = await purchases.RefusalAsync(UserId, PlanKind.Subscription);
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        if (!Mode.IsEnabled)
            return Redirect("/billing");
        await LoadAsync(ct);
        if (!AlreadySubscribed)
        {
            var email = User.FindFirstValue(ClaimTypes.Email) ?? User.Identity?.Name ?? "";
            try
            {
                var session = await checkout.StartAsync(UserId, email, PlanCatalog.SubscriptionUnlimited, $"{Request.Scheme}://{Request.Host}", ct);
                Response.Headers.Location = session.Url;
                return StatusCode(StatusCodes.Status303SeeOther);
            }
            catch (PurchaseUnavailableException)
            {
                // The operator turned this way to pay off (feature flags): /billing says so; nothing was started or charged.
                return Redirect("/billing?checkout=not_available");
            }
            catch (AlreadySubscribedException)
            {
                // A plan started in another tab since this page was shown.
                await LoadAsync(ct);
            }
            catch (Exception ex) when (ex is Stripe.StripeException || StripeGateway.IsUnavailable(ex, ct))
            {
                logger.LogError(BillingLogEvents.CheckoutFailed, ex, "Checkout for the monthly plan could not be started for {UserId}: {StripeCode} {Reason}",
                    UserId, (ex as Stripe.StripeException)?.StripeError?.Code, ex.Message);
                CheckoutUnavailable = true;
                Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return Page();
            }
        }
        Response.StatusCode = StatusCodes.Status409Conflict;
        return Page();
    }

    /// <summary>What the plan does with the credits the customer has: kept, and used only after the plan's cap or its end.</summary>
    public string CreditsSentence()
    {
        var cap = Plan?.HardCap ?? Status.HardCap ?? 0;
        var parts = new List<string>();
        if (Status.TrialCredits > 0)
            parts.Add($"{Status.TrialCredits} trial credits");
        if (Status.PrepaidCredits > 0)
            parts.Add($"{Status.PrepaidCredits} prepaid credits");
        if (parts.Count == 0)
            return "You have no credits now; credits you buy later wait in the same way.";
        return $"Your {string.Join(" and ", parts)} are kept. The plan pays first, so they are used only for images beyond its {cap:N0} a month, or once the plan ends; they do not expire because of it.";
    }

    /// <summary>What becomes of pay per use while the plan runs.</summary>
    public string? CardSentence() => Status.HasSavedCard
        ? $"Your saved card ({Status.CardBrand} ending {Status.CardLast4}) is not charged per image while the plan runs, not even past its {Plan?.HardCap ?? 0:N0} images; pay per use applies again after the plan ends."
        : null;
}
