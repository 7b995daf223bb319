using GenSaaS.Web.Features.Plans;
using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Billing;

/// <summary><c>/billing</c>: the plans with their prices and a button to choose each, and where the account stands.</summary>
[Authorize]
public sealed class Index(PlanCatalog plans, BillingModeInfo mode, AccountSummaries summaries, Webhooks.StripeEventApplier cards, ILogger<Index> logger) : PageModel
{
    public IReadOnlyList<KeyValuePair<string, PlanOptions>> Plans { get; private set; } = [];

    public BillingModeInfo Mode => mode;

    public AccountSummary Status { get; private set; } = null!;

    /// <summary>Set when the portal could not be opened and the customer was sent back here.</summary>
    public bool PortalUnavailable { get; private set; }

    /// <summary>Set when Stripe would not start a Checkout and the customer was sent back here.</summary>
    public bool CheckoutUnavailable { get; private set; }

    /// <summary>Set when the customer tried to subscribe again while subscribed and was sent back here.</summary>
    public bool AlreadySubscribed { get; private set; }

    /// <summary>The plan of the customer's live subscription (see <see cref="LiveSubscriptions"/>), or null: it is marked and never offered again.</summary>
    public string? CurrentPlanKey => LiveSubscriptions.IsLive(Status.Subscription?.Status) ? Status.Subscription!.PlanKey : null;

    /// <summary>The page a customer with a card to fix is sent to (API problems link here): it says why and opens the billing portal.</summary>
    public const string UpdateCardUrl = "/billing?card=update";

    /// <summary>Where the portal sends the customer back: the page reads their card from Stripe first, so a change shows at once.</summary>
    public const string ReturnFromPortalUrl = "/billing?from=portal";

    /// <summary>Set when the customer came here to fix their card (a declined or unconfirmed payment).</summary>
    public bool UpdateCard { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        PortalUnavailable = Request.Query["portal"] == "unavailable";
        CheckoutUnavailable = Request.Query["checkout"] == "unavailable";
        AlreadySubscribed = Request.Query["checkout"] == "already_subscribed";
        UpdateCard = Request.Query["card"] == "update";
        var userId = User.FindFirstValue(ClaimTypes.NameIdentifier)!;
        if (Request.Query["from"] == "portal" && mode.IsEnabled)
        {
            try
            {
                await cards.RefreshCardAsync(userId, ct);
            }
            catch (Exception ex) when (ex is Stripe.StripeException or HttpRequestException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
            {
                // The webhook brings the change a little later; the page shows what is stored until then.
                logger.LogWarning(ex, "The card of {UserId} could not be read from Stripe on return from the portal", userId);
            }
        }
        Plans = plans.Plans.OrderBy(p => p.Value.Kind).ThenBy(p => p.Value.PriceMinor).ToList();
        Status = await summaries.GetAsync(userId, ct);
    }

    public static string PriceLabel(PlanOptions plan) => plan.Kind switch
    {
        PlanKind.PayPerUse => $"{BillingOverview.Money(plan.PriceMinor, plan.Currency)} per generation",
        PlanKind.Subscription => $"{BillingOverview.Money(plan.PriceMinor, plan.Currency)} a month",
        _ => $"{BillingOverview.Money(plan.PriceMinor, plan.Currency)} for {plan.Credits} credits",
    };

    public static string ChooseLabel(PlanOptions plan) => plan.Kind switch
    {
        PlanKind.PayPerUse => "Save a card",
        PlanKind.Subscription => "Subscribe",
        _ => "Buy",
    };
}
