using System.Globalization;
using System.Security.Claims;
using GenSaaS.Web.Features.Plans;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Billing.PlanChange;

/// <summary>
/// What the confirmation pages of a plan change share: where the account stands, the plan's price and period, what pays
/// for images once the plan ends, and the nonce that makes one confirmation one change however often it is sent.
/// </summary>
[Authorize]
public abstract class PlanChangePage(AccountSummaries summaries, PlanCatalog plans, BillingModeInfo mode, TimeProvider clock) : PageModel
{
    /// <summary>Names this confirmation at Stripe (part of the idempotency key): a double submit or a resent form changes the plan once.</summary>
    [BindProperty]
    public string? RequestId { get; set; }

    public AccountSummary Status { get; private set; } = null!;

    public BillingModeInfo Mode => mode;

    /// <summary>The plan of the live subscription (the catalogue's monthly plan when the stored key is unknown).</summary>
    public PlanOptions? Plan { get; private set; }

    public PlanOptions? PayPerUsePlan => plans.Find(PlanCatalog.PayPerUse);

    /// <summary>The subscription can be changed here: live and paying (active or trialing) inside its period.</summary>
    public bool HasLivePlan => Status.Subscription is { } s && LiveSubscriptions.IsLive(s.Status) && s.PeriodEnd is not null;

    public DateTime PeriodEnd => Status.Subscription?.PeriodEnd ?? clock.GetUtcNow().UtcDateTime;

    /// <summary>Set when Stripe did not answer: nothing changed, the page says so and offers the button again.</summary>
    public bool StripeUnavailable { get; protected set; }

    protected DateTime Now => clock.GetUtcNow().UtcDateTime;

    protected string UserId => User.FindFirstValue(ClaimTypes.NameIdentifier)!;

    protected async Task LoadAsync(CancellationToken ct)
    {
        Status = await summaries.GetAsync(UserId, ct);
        Plan = Status.Subscription is { } s ? plans.Find(s.PlanKey) ?? plans.Find(PlanCatalog.SubscriptionUnlimited) : plans.Find(PlanCatalog.SubscriptionUnlimited);
        if (!IsNonce(RequestId))
            RequestId = Guid.NewGuid().ToString("N");
    }

    /// <summary>A nonce this app made: 32 hex digits. Anything else posted is replaced, so a key at Stripe never carries user text.</summary>
    protected static bool IsNonce(string? value) =>
        value is { Length: 32 } && value.All(char.IsAsciiHexDigitLower);

    /// <summary>The short note <c>/billing</c> shows after the redirect.</summary>
    protected void Tell(string message) => TempData["StatusMessage"] = message;

    /// <summary>
    /// The confirm button of both pages: sets or clears cancel-at-period-end once per confirmation (its nonce is the request
    /// id), answers 503 with the page when Stripe does not answer, else tells the outcome on <c>/billing</c>.
    /// </summary>
    protected async Task<IActionResult> ConfirmAsync(PlanChanges changes, bool cancel, ILogger logger, Func<PlanChanges.Outcome, string> told, CancellationToken ct)
    {
        if (!Mode.IsEnabled)
            return Redirect("/billing");
        if (!IsNonce(RequestId))
            RequestId = Guid.NewGuid().ToString("N");
        PlanChanges.Outcome outcome;
        try
        {
            outcome = await changes.SetCancelAtPeriodEndAsync(UserId, cancel, RequestId!, ct);
        }
        catch (Exception ex) when (StripeGateway.IsUnavailable(ex, ct))
        {
            logger.LogWarning(BillingLogEvents.StripeUnavailable, ex, "{PlanChange} for {UserId} not made: Stripe did not answer", cancel ? "Cancel" : "Resume", UserId);
            StripeUnavailable = true;
            await LoadAsync(ct);
            Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Page();
        }
        await LoadAsync(ct);
        Tell(told(outcome));
        return Redirect("/billing");
    }

    /// <summary>The day the current period ends (UTC), as the pages print it.</summary>
    public string PeriodEndDate => Date(PeriodEnd);

    public static string Date(DateTime when) => when.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    public string PlanPrice => Plan is null ? "" : BillingOverview.Money(Plan.PriceMinor, Plan.Currency);

    /// <summary>What pays for images once the plan has ended, in the ledger's order: trial, then prepaid credits, then the saved card.</summary>
    public string AfterPlanSentence()
    {
        var parts = new List<string>();
        if (Status.TrialCredits > 0)
            parts.Add($"your {Status.TrialCredits} trial credits");
        if (Status.PrepaidCredits > 0)
            parts.Add($"your {Status.PrepaidCredits} prepaid credits");
        if (Status.HasSavedCard && PayPerUsePlan is { } ppu)
            parts.Add($"your saved card at {BillingOverview.Money(ppu.PriceMinor, ppu.Currency)} per image");
        return parts.Count == 0
            ? "Nothing pays for images after that until you buy a bundle, save a card for pay per use or subscribe again."
            : $"After that, {string.Join(", then ", parts)} pay for your images.";
    }
}
