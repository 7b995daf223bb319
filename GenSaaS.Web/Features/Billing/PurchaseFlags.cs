using GenSaaS.Web.Features.Flags;
using GenSaaS.Web.Features.Plans;
using Microsoft.FeatureManagement;

namespace GenSaaS.Web.Features.Billing;

/// <summary>A purchase refused because the operator turned billing, or this way to pay, off for the customer (feature flags).</summary>
public sealed class PurchaseUnavailableException(string message) : Exception(message);

/// <summary>
/// What the flags <c>billing</c>, <c>bundles</c>, <c>monthly_plan</c>, <c>pay_per_use</c> and <c>auto_top_up</c> allow a customer
/// to start: checked where a purchase starts (<see cref="Checkout.StartAsync"/>), where an image would be paid per use, and
/// where auto top-up would record or charge a top-up or be turned on, and read by the pages so they offer only what would be
/// accepted. Trial and granted credits never pass through here, so they keep working while billing is dark.
/// </summary>
public sealed class PurchaseFlags(IFeatureManager features)
{
    public const string BillingOff = "Billing is not available right now. Nothing was charged; trial and granted credits still work.";

    /// <summary>What a page says where the buttons of a way to pay that is turned off would be.</summary>
    public const string NotAvailableNow = "Not available right now.";

    /// <summary>The ways to pay this customer may start now: each needs <c>billing</c> and its own flag on.</summary>
    public sealed record Offer(bool Billing, bool Bundles, bool MonthlyPlan, bool PayPerUse)
    {
        /// <summary>Everything on: billing not configured at all is told apart by <see cref="BillingModeInfo"/>, not here.</summary>
        public static readonly Offer All = new(true, true, true, true);

        public bool Allows(PlanKind kind) => kind switch
        {
            PlanKind.Bundle => Bundles,
            PlanKind.Subscription => MonthlyPlan,
            _ => PayPerUse,
        };
    }

    /// <summary>Whether the operator turned billing as a whole off for this customer (dark launch).</summary>
    public async Task<bool> BillingOffAsync(string userId) => !await features.IsOnAsync(FlagNames.Billing, userId);

    /// <summary>Reads the four flags for this customer once, for a page that shows (or hides) every way to pay.</summary>
    public async Task<Offer> OfferAsync(string userId)
    {
        if (await BillingOffAsync(userId))
            return new Offer(false, false, false, false);
        return new Offer(true, await WayToPayOnAsync(userId, PlanKind.Bundle), await WayToPayOnAsync(userId, PlanKind.Subscription),
            await WayToPayOnAsync(userId, PlanKind.PayPerUse));
    }

    /// <summary>The flag of a way to pay, and its name in the customer's words.</summary>
    private static (string Flag, string What) WayToPay(PlanKind kind) => kind switch
    {
        PlanKind.Bundle => (FlagNames.Bundles, "Buying credit bundles"),
        PlanKind.Subscription => (FlagNames.MonthlyPlan, "The monthly plan"),
        _ => (FlagNames.PayPerUse, "Paying per image"),
    };

    private Task<bool> WayToPayOnAsync(string userId, PlanKind kind) => features.IsOnAsync(WayToPay(kind).Flag, userId);

    /// <summary>Null when the customer may start a purchase of this kind; otherwise why not, in words for the customer.</summary>
    public async Task<string?> RefusalAsync(string userId, PlanKind kind)
    {
        if (await BillingOffAsync(userId))
            return BillingOff;
        return await WayToPayOnAsync(userId, kind) ? null : $"{WayToPay(kind).What} is not available right now. Nothing was charged.";
    }

    public const string AutoTopUpOff = "Auto top-up is not available right now. Nothing was charged; your settings are kept.";

    /// <summary>
    /// Null while auto top-up may buy for this customer; otherwise the flag that stops it: <c>billing</c> (dark) or
    /// <c>auto_top_up</c>. The <c>bundles</c> flag does not stop it: auto top-up has its own flag.
    /// </summary>
    public async Task<string?> AutoTopUpOffByAsync(string userId) =>
        await BillingOffAsync(userId) ? FlagNames.Billing
        : await features.IsOnAsync(FlagNames.AutoTopUp, userId) ? null
        : FlagNames.AutoTopUp;

    /// <summary>What the customer is told while <paramref name="flag"/> (from <see cref="AutoTopUpOffByAsync"/>) stops auto top-up.</summary>
    public static string AutoTopUpRefusal(string flag) => flag == FlagNames.Billing ? BillingOff : AutoTopUpOff;

    /// <summary>Whether an image may be paid per use on the saved card (both <c>billing</c> and <c>pay_per_use</c> on).</summary>
    public async Task<bool> PayPerUseOnAsync(string userId) =>
        await RefusalAsync(userId, PlanKind.PayPerUse) is null;
}
