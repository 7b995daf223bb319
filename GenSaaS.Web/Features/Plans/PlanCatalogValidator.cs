using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Plans;

/// <summary>
/// Refuses to start with a plan table that would misbehave later: a missing key, an empty name, a limit the cap undercuts,
/// or a price Stripe would refuse to charge. Every problem is named with its configuration key.
/// </summary>
public sealed class PlanCatalogValidator : IValidateOptions<PlanCatalogOptions>
{
    /// <summary>
    /// Stripe's minimum charge per currency, in minor units (docs.stripe.com/currencies, "Minimum and maximum charge
    /// amounts"). A price below it cannot be charged on its own. Currencies not listed are not checked.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, long> StripeMinimumCharge = new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["usd"] = 50, ["aed"] = 200, ["aud"] = 50, ["bgn"] = 100, ["brl"] = 50, ["cad"] = 50, ["chf"] = 50, ["czk"] = 1500,
        ["dkk"] = 250, ["eur"] = 50, ["gbp"] = 30, ["hkd"] = 400, ["huf"] = 17500, ["inr"] = 50, ["jpy"] = 50, ["mxn"] = 1000,
        ["myr"] = 200, ["nok"] = 300, ["nzd"] = 50, ["pln"] = 200, ["ron"] = 200, ["sek"] = 300, ["sgd"] = 50, ["thb"] = 1000,
    };

    public ValidateOptionsResult Validate(string? name, PlanCatalogOptions options)
    {
        var failures = new List<string>();
        foreach (var key in PlanCatalog.RequiredKeys.Where(key => !options.Plans.ContainsKey(key)))
            failures.Add($"Billing:Plans:{key} is missing; the plans {string.Join(", ", PlanCatalog.RequiredKeys)} must all be configured.");

        foreach (var (key, plan) in options.Plans)
        {
            var at = $"Billing:Plans:{key}";
            if (string.IsNullOrWhiteSpace(plan.Name))
                failures.Add($"{at}:Name is empty; customers see it on the billing page.");
            if (plan.Currency is not { Length: 3 } currency || !currency.All(char.IsAsciiLetterLower))
                failures.Add($"{at}:Currency '{plan.Currency}' must be a three-letter ISO code in lower case (usd, eur, gbp...).");
            else if (plan.PriceMinor < 0)
                failures.Add($"{at}:PriceMinor is {plan.PriceMinor}; a price cannot be negative.");
            else if (StripeMinimumCharge.TryGetValue(currency, out var minimum) && plan.PriceMinor < minimum)
                failures.Add($"{at}:PriceMinor is {plan.PriceMinor} {currency}; Stripe's minimum charge in {currency} is {minimum} (minor units).");
            if (plan.RatePerMinute < 1)
                failures.Add($"{at}:RatePerMinute is {plan.RatePerMinute}; allow at least one generation a minute.");
            if (plan.Kind == PlanKind.Bundle && plan.Credits < 1)
                failures.Add($"{at}:Credits is {plan.Credits}; a bundle grants at least one credit.");
            if (plan.Kind == PlanKind.Subscription)
            {
                if (plan.HardCap < 1)
                    failures.Add($"{at}:HardCap is {plan.HardCap}; the fair-use cap must allow at least one generation a period.");
                if (plan.SoftLimit < 0 || plan.SoftLimit > plan.HardCap)
                    failures.Add($"{at}:SoftLimit is {plan.SoftLimit}; it must be between 0 and HardCap ({plan.HardCap}).");
            }
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
