using GenSaaS.Web.Features.Flags;
using GenSaaS.Web.Features.Plans;
using Microsoft.FeatureManagement;

namespace GenSaaS.Web.Features.Billing;

/// <summary>A purchase refused because the operator turned billing, or this way to pay, off for the customer (feature flags).</summary>
public sealed class PurchaseUnavailableException(string message) : Exception(message);

/// <summary>
/// What the flags <c>billing</c>, <c>bundles</c>, <c>monthly_plan</c> and <c>pay_per_use</c> allow a customer to start: checked
/// where a purchase starts (<see cref="Checkout.StartAsync"/>) and where an image would be paid per use. Trial and granted
/// credits never pass through here, so they keep working while billing is dark.
/// </summary>
public sealed class PurchaseFlags(IFeatureManager features)
{
    public const string BillingOff = "Billing is not available right now. Nothing was charged; trial and granted credits still work.";

    /// <summary>Whether the operator turned billing as a whole off for this customer (dark launch).</summary>
    public async Task<bool> BillingOffAsync(string userId) => !await features.IsOnAsync(FlagNames.Billing, userId);

    /// <summary>Null when the customer may start a purchase of this kind; otherwise why not, in words for the customer.</summary>
    public async Task<string?> RefusalAsync(string userId, PlanKind kind)
    {
        if (await BillingOffAsync(userId))
            return BillingOff;
        var (flag, what) = kind switch
        {
            PlanKind.Bundle => (FlagNames.Bundles, "Buying credit bundles"),
            PlanKind.Subscription => (FlagNames.MonthlyPlan, "The monthly plan"),
            _ => (FlagNames.PayPerUse, "Paying per image"),
        };
        return await features.IsOnAsync(flag, userId) ? null : $"{what} is not available right now. Nothing was charged.";
    }

    /// <summary>Whether an image may be paid per use on the saved card (both <c>billing</c> and <c>pay_per_use</c> on).</summary>
    public async Task<bool> PayPerUseOnAsync(string userId) =>
        await RefusalAsync(userId, PlanKind.PayPerUse) is null;
}
