using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Plans;
using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Billing;

/// <summary><c>/billing</c>: the plans with their prices and a button to choose each, and where the account stands.</summary>
[Authorize]
public sealed class Index(PlanCatalog plans, BillingModeInfo mode, AccountSummaries summaries, Webhooks.StripeEventApplier cards, TimeProvider clock, ILogger<Index> logger) : PageModel
{
    public IReadOnlyList<KeyValuePair<string, PlanOptions>> Plans { get; private set; } = [];

    public BillingModeInfo Mode => mode;

    public AccountSummary Status { get; private set; } = null!;

    /// <summary>One sentence: what pays for the next image.</summary>
    public string NextImage { get; private set; } = "";

    /// <summary>Set when the portal could not be opened and the customer was sent back here.</summary>
    public bool PortalUnavailable { get; private set; }

    /// <summary>Set when Stripe would not start a Checkout and the customer was sent back here.</summary>
    public bool CheckoutUnavailable { get; private set; }

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
        NextImage = NextImageSentence(Status, plans.Find(PlanCatalog.PayPerUse), clock.GetUtcNow().UtcDateTime);
    }

    /// <summary>
    /// Says in one sentence what pays for the customer's next image, from <see cref="AccountSummary.NextFunding"/> (the
    /// ledger's own funding order), so the page and the reservation cannot disagree.
    /// </summary>
    public static string NextImageSentence(AccountSummary account, PlanOptions? payPerUse, DateTime now)
    {
        var choice = account.NextFunding(now);
        var capReached = account.Subscription is { } plan && plan.IsActiveAt(now);
        string CreditsPay(string bucket, long left) => capReached
            ? $"Your monthly plan has used all {Count(account.HardCap ?? 0)} images of this period, so your {bucket} credits pay for your next image ({Count(left)} left)."
            : $"Your {bucket} credits pay for your next image ({Count(left)} left).";
        return choice.Source switch
        {
            FundingSource.Subscription =>
                $"Your monthly plan pays for your next image ({Count(account.UsedThisPeriod)} of {Count(account.HardCap ?? 0)} used this period).",
            FundingSource.Trial => CreditsPay("trial", account.TrialCredits),
            FundingSource.Prepaid => CreditsPay("prepaid", account.PrepaidCredits),
            FundingSource.PayPerUse => payPerUse is null
                ? "Your saved card is charged for your next image."
                : $"Your saved card is charged {BillingOverview.Money(payPerUse.PriceMinor, payPerUse.Currency)} per image, starting with your next one.",
            _ => choice.Denial!.Reason switch
            {
                DenialReason.FairUseCap =>
                    $"Your monthly plan has used all {Count(account.HardCap ?? 0)} images of this period{(choice.Denial.RetryAt is { } renews ? $" (it renews on {renews:yyyy-MM-dd})" : "")} and nothing else can pay for your next image; buy a bundle to keep generating.",
                DenialReason.SubscriptionUnpaid =>
                    "Nothing can pay for your next image until your monthly plan's payment goes through; update your card or buy a bundle.",
                _ => "Nothing can pay for your next image; buy a bundle, subscribe or save a card.",
            },
        };
    }

    private static string Count(long n) => n.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);

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
