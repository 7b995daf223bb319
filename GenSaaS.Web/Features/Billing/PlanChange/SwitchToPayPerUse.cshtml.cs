using System.Security.Claims;
using GenSaaS.Web.Features.Plans;
using Microsoft.AspNetCore.Mvc;

namespace GenSaaS.Web.Features.Billing.PlanChange;

/// <summary>
/// <c>/billing/plan/pay-per-use</c>: switch to paying per image with the saved card. From the monthly plan the plan is canceled
/// at its period end (the shared confirm step) and the card pays after it; from credits, saving a card is the switch and the
/// credits are used first. Without a saved card the page leads to saving one first (Stripe Checkout in setup mode), then back here.
/// </summary>
public sealed class SwitchToPayPerUse(PlanChanges changes, Checkout checkout, AccountSummaries summaries, PlanCatalog plans, BillingModeInfo mode, PurchaseFlags purchases,
    TimeProvider clock, ILogger<SwitchToPayPerUse> logger)
    : PlanChangePage(summaries, plans, mode, clock)
{
    /// <summary>What <c>/billing/success</c> is told to link back to after the card is saved.</summary>
    public const string Next = "pay-per-use";

    public const string Path = "/billing/plan/pay-per-use";

    /// <summary>What switching takes now: a card first, the plan's cancel at period end, or nothing (pay per use already follows).</summary>
    public PlanChanges.PayPerUseStep Step => PlanChanges.StepToPayPerUse(Status);

    /// <summary>Set when Stripe would not start the Checkout that saves the card: nothing was charged, the page says so.</summary>
    public bool CheckoutUnavailable { get; private set; }

    /// <summary>The confirm was sent without a saved card (another tab removed it, or a forged post): nothing changed.</summary>
    public bool CardMissing { get; private set; }

    public string PayPerUsePrice => PayPerUsePlan is { } ppu ? BillingOverview.Money(ppu.PriceMinor, ppu.Currency) : "";

    /// <summary>Why the operator's feature flags refuse pay per use to this customer now (nothing is offered), else null.</summary>
    public string? NotAvailable { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        await LoadAsync(ct);
        if (Mode.IsEnabled)
            NotAvailable = await purchases.RefusalAsync(UserId, PlanKind.PayPerUse);
    }

    /// <summary>Confirms the switch: cancels the plan at its period end once per confirmation; otherwise says why nothing changed.</summary>
    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        if (!Mode.IsEnabled)
            return Redirect("/billing");
        await LoadAsync(ct);
        if (await purchases.RefusalAsync(UserId, PlanKind.PayPerUse) is { } refused)
        {
            // A tab opened before the operator turned pay per use off: the plan is not canceled for a way to pay that is refused.
            NotAvailable = refused;
            Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Page();
        }
        switch (Step)
        {
            case PlanChanges.PayPerUseStep.SaveCard:
                CardMissing = true;
                Response.StatusCode = StatusCodes.Status409Conflict;
                return Page();
            case PlanChanges.PayPerUseStep.None:
                Tell(NothingToChange());
                return Redirect("/billing");
        }
        return await ConfirmAsync(changes, cancel: true, logger, outcome => outcome switch
        {
            PlanChanges.Outcome.Changed =>
                $"Switched to pay per use: your monthly plan ends on {Date(PeriodEnd)} and is not charged again; after that your saved card pays {PayPerUsePrice} per image, once any credits are used.",
            PlanChanges.Outcome.AlreadyCanceling =>
                $"Your plan was already set to end on {Date(PeriodEnd)}; pay per use follows then. Nothing changed.",
            PlanChanges.Outcome.SubscriptionEnded => $"Your plan has already ended; your saved card pays {PayPerUsePrice} per image once any credits are used. Nothing changed.",
            _ => NothingToChange(),
        }, ct);
    }

    /// <summary>Step one without a card: Stripe Checkout in setup mode saves one (nothing is charged), and its success page links back here.</summary>
    public async Task<IActionResult> OnPostSaveCardAsync(CancellationToken ct)
    {
        if (!Mode.IsEnabled)
            return Redirect("/billing");
        await LoadAsync(ct);
        if (Status.HasSavedCard)
            return Redirect(Path);
        var email = User.FindFirstValue(ClaimTypes.Email) ?? User.Identity?.Name ?? "";
        try
        {
            var session = await checkout.StartAsync(UserId, email, PlanCatalog.PayPerUse, $"{Request.Scheme}://{Request.Host}", ct, next: Next);
            Response.Headers.Location = session.Url;
            return StatusCode(StatusCodes.Status303SeeOther);
        }
        catch (PurchaseUnavailableException)
        {
            // The operator turned this way to pay off (feature flags): /billing says so; nothing was started or charged.
            return Redirect("/billing?checkout=not_available");
        }
        catch (Exception ex) when (ex is Stripe.StripeException || StripeGateway.IsUnavailable(ex, ct))
        {
            logger.LogError(BillingLogEvents.CheckoutFailed, ex, "Checkout to save a card could not be started for {UserId}: {StripeCode} {Reason}",
                UserId, (ex as Stripe.StripeException)?.StripeError?.Code, ex.Message);
            CheckoutUnavailable = true;
            Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Page();
        }
    }

    private string NothingToChange() => HasLivePlan
        ? $"Your plan already ends on {Date(PeriodEnd)}; pay per use follows then. Nothing changed."
        : "You already pay per use: your saved card pays for images once any credits are used. Nothing changed.";

    /// <summary>What pays for images after the switch, in the funding order: credits first, then the card.</summary>
    public string CreditsFirstSentence()
    {
        var parts = new List<string>();
        if (Status.TrialCredits > 0)
            parts.Add($"{Status.TrialCredits} trial credits");
        if (Status.PrepaidCredits > 0)
            parts.Add($"{Status.PrepaidCredits} prepaid credits");
        return parts.Count == 0
            ? "You have no credits, so the card pays for every image."
            : $"Your {string.Join(" and ", parts)} are used first; the card pays only once they are spent.";
    }
}
