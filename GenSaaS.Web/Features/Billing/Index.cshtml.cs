using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Plans;
using System.Security.Claims;
using System.Globalization;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Billing;

/// <summary><c>/billing</c>: the plans with their prices and a button to choose each, and where the account stands.</summary>
[Authorize]
public sealed class Index(PlanCatalog plans, BillingModeInfo mode, PurchaseFlags purchases, AccountSummaries summaries, Webhooks.StripeEventApplier cards, SpendCaps spendCaps, LowBalance lowBalance,
    AutoTopUps autoTopUps, TimeProvider clock, ILogger<Index> logger) : PageModel
{
    /// <summary>
    /// The auto top-up form: on or off, the threshold in credits, the bundle, and the monthly cap in the bundle currency's major
    /// unit (<c>20</c> or <c>20.50</c>).
    /// </summary>
    public sealed record AutoTopUpInput
    {
        public bool Enabled { get; init; }
        public string? Threshold { get; init; }
        public string? Bundle { get; init; }
        public string? MonthlyCap { get; init; }
    }

    [BindProperty]
    public AutoTopUpInput AutoTopUpForm { get; set; } = new();

    /// <summary>Auto top-up as stored, with this month's charges.</summary>
    public AutoTopUps.View AutoTopUp { get; private set; } = null!;

    /// <summary>What the form shows when nothing was posted: the stored settings, else the defaults.</summary>
    public (long Threshold, string? Bundle, long CapMinor) AutoTopUpValues { get; private set; }

    public IReadOnlyList<KeyValuePair<string, PlanOptions>> Bundles => AutoTopUps.Bundles(plans);

    /// <summary>Set while the operator's flags (<c>billing</c>, <c>auto_top_up</c>) stop auto top-up for this customer: it buys nothing and cannot be turned on.</summary>
    public bool AutoTopUpNotAvailable { get; private set; }

    /// <summary>The spend-cap form: an amount in the pay-per-use currency's major unit (<c>25</c> or <c>25.50</c>); empty clears the cap.</summary>
    public sealed record SpendCapInput
    {
        public string? SpendCap { get; init; }
    }

    [BindProperty]
    public SpendCapInput Input { get; set; } = new();

    /// <summary>The low-balance form: a whole number of credits; empty goes back to the default (20 % of the last bundle bought).</summary>
    public sealed record LowBalanceInput
    {
        public string? Threshold { get; init; }
    }

    [BindProperty]
    public LowBalanceInput LowBalanceForm { get; set; } = new();

    /// <summary>The low-balance threshold set (or null), the one in force, and whether the balance is below it now.</summary>
    public LowBalance.State LowBalanceState { get; private set; } = new(null, null, false);

    [TempData]
    public string? StatusMessage { get; set; }

    /// <summary>The customer's monthly pay-per-use cap (null: none), this month's spend and when the month ends.</summary>
    public (long? CapMinor, long SpentMinor, DateTime ResetsAt) SpendCap { get; private set; }

    public string PayPerUseCurrency => plans.Find(PlanCatalog.PayPerUse)?.Currency ?? "usd";

    public IReadOnlyList<KeyValuePair<string, PlanOptions>> Plans { get; private set; } = [];

    public BillingModeInfo Mode => mode;

    public AccountSummary Status { get; private set; } = null!;

    /// <summary>One sentence: what pays for the next image.</summary>
    public string NextImage { get; private set; } = "";

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

    /// <summary>Why purchases are refused for this customer right now (the operator's feature flags), else null.</summary>
    public string? NotAvailable { get; private set; }

    /// <summary>The ways to pay the operator's feature flags let this customer start now: only their buttons are shown.</summary>
    public PurchaseFlags.Offer Offers { get; private set; } = PurchaseFlags.Offer.All;

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
        await LoadAsync(userId, ct);
        if (mode.IsEnabled)
            NotAvailable = !Offers.Billing ? PurchaseFlags.BillingOff
                : Request.Query["checkout"] == "not_available" ? "That purchase is not available right now. Nothing was charged." : null;
    }

    private async Task LoadAsync(string userId, CancellationToken ct)
    {
        Offers = await purchases.OfferAsync(userId);
        Plans = plans.Plans.OrderBy(p => p.Value.Kind).ThenBy(p => p.Value.PriceMinor).ToList();
        Status = await summaries.GetAsync(userId, ct);
        SpendCap = await spendCaps.ReadAsync(userId, ct);
        LowBalanceState = await lowBalance.ReadAsync(userId, ct);
        AutoTopUp = await autoTopUps.ReadAsync(userId, ct);
        AutoTopUpValues = AutoTopUpApi.Defaults(AutoTopUp.Settings, plans);
        AutoTopUpNotAvailable = mode.IsEnabled && await purchases.AutoTopUpOffByAsync(userId) is not null;
        NextImage = NextImageSentence(Status, plans.Find(PlanCatalog.PayPerUse), clock.GetUtcNow().UtcDateTime, SpendCap, Offers);
    }

    /// <summary>Sets the low-balance threshold or, empty, goes back to the default; a bad number is shown on the form and changes nothing.</summary>
    public async Task<IActionResult> OnPostLowBalanceAsync(CancellationToken ct)
    {
        var userId = User.FindFirstValue(ClaimTypes.NameIdentifier)!;
        long? threshold = null;
        var text = LowBalanceForm.Threshold?.Trim();
        if (!string.IsNullOrEmpty(text))
        {
            string? error = null;
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                error = "Enter the warning level as a whole number of credits, like 10, or leave it empty for the default.";
            else if (parsed < 1)
                error = "The warning level must be at least 1 credit. Leave it empty for the default.";
            else if (parsed > LowBalance.MaxThreshold)
                error = $"The warning level can be at most {LowBalance.MaxThreshold} credits.";
            if (error is not null)
            {
                ModelState.AddModelError("LowBalanceForm.Threshold", error);
                await LoadAsync(userId, ct);
                Response.StatusCode = StatusCodes.Status400BadRequest;
                return Page();
            }
            threshold = parsed;
        }
        await summaries.GetAsync(userId, ct);
        await lowBalance.SetAsync(userId, threshold, ct);
        StatusMessage = threshold is { } set
            ? $"We will warn you when your prepaid credits fall below {set}."
            : "We will warn you when your prepaid credits fall below 20 % of the last bundle you bought.";
        return RedirectToPage();
    }

    /// <summary>Saves auto top-up (the same rules as <c>PUT /api/v1/billing/auto-top-up</c>); a bad value is shown on the form and changes nothing.</summary>
    public async Task<IActionResult> OnPostAutoTopUpAsync(CancellationToken ct)
    {
        var userId = User.FindFirstValue(ClaimTypes.NameIdentifier)!;
        var form = AutoTopUpForm;
        string? field = null, error = null;
        var status = StatusCodes.Status400BadRequest;
        long threshold = 0, capMinor = 0;
        var bundle = plans.Find(form.Bundle ?? "") is { Kind: PlanKind.Bundle } chosen ? chosen : null;
        if (!long.TryParse(form.Threshold?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out threshold))
            (field, error) = ("Threshold", "Enter the threshold as a whole number of credits, like 5.");
        else if (bundle is null)
            (field, error) = ("Bundle", "Choose the bundle auto top-up buys.");
        else if (ParseSpendCap(form.MonthlyCap, bundle.Currency) is { } cap && (cap.Error is not null || cap.CapMinor is null))
            (field, error) = ("MonthlyCap", cap.Error ?? $"Enter the monthly cap as an amount in {bundle.Currency.ToUpperInvariant()}, like 20.");
        else
        {
            capMinor = ParseSpendCap(form.MonthlyCap, bundle.Currency).CapMinor!.Value;
            if (AutoTopUps.Validate(plans, threshold, form.Bundle!, capMinor, BillingOverview.Money) is { } invalid)
                (field, error) = (invalid.Field switch { "threshold" => "Threshold", "bundle" => "Bundle", _ => "MonthlyCap" }, invalid.Message);
            else if (form.Enabled && !(await autoTopUps.ReadAsync(userId, ct)).Enabled && await purchases.AutoTopUpOffByAsync(userId) is { } offBy)
                (field, error, status) = ("Enabled", PurchaseFlags.AutoTopUpRefusal(offBy) + " Auto top-up cannot be turned on for now; nothing was changed.",
                    StatusCodes.Status503ServiceUnavailable);
            else if (form.Enabled && !(await summaries.GetAsync(userId, ct)).HasSavedCard)
                (field, error) = ("Enabled", "Auto top-up needs a saved card: save one with \"Pay per use\" below first.");
        }
        if (error is not null)
        {
            ModelState.AddModelError("AutoTopUpForm." + field, error);
            await LoadAsync(userId, ct);
            Response.StatusCode = status;
            return Page();
        }
        await autoTopUps.SaveAsync(userId, form.Enabled, threshold, form.Bundle!, capMinor, ct);
        StatusMessage = form.Enabled
            ? $"Auto top-up is on: we buy {bundle!.Name} when your prepaid credits fall below {threshold}, at most {BillingOverview.Money(capMinor, bundle.Currency)} a month."
            : "Auto top-up is off.";
        return RedirectToPage();
    }

    /// <summary>Sets or clears the monthly pay-per-use cap; a bad amount is shown on the form and changes nothing.</summary>
    public async Task<IActionResult> OnPostSpendCapAsync(CancellationToken ct)
    {
        var userId = User.FindFirstValue(ClaimTypes.NameIdentifier)!;
        var (capMinor, error) = ParseSpendCap(Input.SpendCap, PayPerUseCurrency);
        if (error is not null)
        {
            ModelState.AddModelError("Input.SpendCap", error);
            await LoadAsync(userId, ct);
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }
        await spendCaps.SetAsync(userId, capMinor, ct);
        StatusMessage = capMinor is { } cap
            ? $"Your pay-per-use spend is now capped at {BillingOverview.Money(cap, PayPerUseCurrency)} a month."
            : "Your pay-per-use spend cap is cleared.";
        return RedirectToPage();
    }

    /// <summary>Reads a cap typed in the major unit: empty is none; otherwise a positive amount with at most two decimals, at most <see cref="SpendCaps.MaxCapMinor"/>.</summary>
    public static (long? CapMinor, string? Error) ParseSpendCap(string? text, string currency)
    {
        if (string.IsNullOrWhiteSpace(text))
            return (null, null);
        var max = BillingOverview.Money(SpendCaps.MaxCapMinor, currency);
        if (!decimal.TryParse(text.Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
            return (null, $"Enter the cap as an amount in {currency.ToUpperInvariant()}, like 25 or 25.50, or leave it empty for no cap.");
        if (amount <= 0)
            return (null, "The cap must be more than 0. Leave it empty for no cap.");
        if (decimal.Round(amount, 2) != amount)
            return (null, "The cap can have at most two decimals.");
        if (amount * 100 > SpendCaps.MaxCapMinor)
            return (null, $"The cap can be at most {max}.");
        return ((long)(amount * 100), null);
    }

    /// <summary>
    /// Says in one sentence what pays for the customer's next image, from <see cref="AccountSummary.NextFunding"/> (the
    /// ledger's own funding order), so the page and the reservation cannot disagree.
    /// </summary>
    public static string NextImageSentence(AccountSummary account, PlanOptions? payPerUse, DateTime now,
        (long? CapMinor, long SpentMinor, DateTime ResetsAt)? spendCap = null, PurchaseFlags.Offer? offers = null)
    {
        offers ??= PurchaseFlags.Offer.All;
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
            // The ledger refuses a charge that would take the month's spend above the customer's cap: say so, as it will.
            FundingSource.PayPerUse when payPerUse is not null && spendCap is { CapMinor: { } cap } limit && limit.SpentMinor + payPerUse.PriceMinor > cap =>
                $"Your saved card would pay for your next image, but this month's pay-per-use spend ({BillingOverview.Money(limit.SpentMinor, payPerUse.Currency)}) "
                + $"has reached your cap of {BillingOverview.Money(cap, payPerUse.Currency)}; raise or clear the cap, or buy a bundle, to generate before {limit.ResetsAt:yyyy-MM-dd}.",
            // The generation refuses to charge the card while the operator has pay per use (or billing) off: say so, as it will.
            FundingSource.PayPerUse when !offers.PayPerUse =>
                "Your saved card would pay for your next image, but paying per image is not available right now, so it is not charged and the image is not made.",
            FundingSource.PayPerUse => payPerUse is null
                ? "Your saved card is charged for your next image."
                : $"Your saved card is charged {BillingOverview.Money(payPerUse.PriceMinor, payPerUse.Currency)} per image, starting with your next one.",
            _ => choice.Denial!.Reason switch
            {
                DenialReason.FairUseCap =>
                    $"Your monthly plan has used all {Count(account.HardCap ?? 0)} images of this period{(choice.Denial.RetryAt is { } renews ? $" (it renews on {renews:yyyy-MM-dd})" : "")} and nothing else can pay for your next image{(offers.Bundles ? "; buy a bundle to keep generating" : "")}.",
                DenialReason.SubscriptionUnpaid =>
                    $"Nothing can pay for your next image until your monthly plan's payment goes through; update your card{(offers.Bundles ? " or buy a bundle" : "")}.",
                _ when !offers.Billing => "Nothing can pay for your next image, and billing is not available right now.",
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
