using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Plans;

public enum PlanKind { PayPerUse, Bundle, Subscription }

/// <summary>One entry of <c>Billing:Plans</c>; its key is also the Stripe price's lookup key.</summary>
public sealed class PlanOptions
{
    /// <summary>What customers see.</summary>
    [Required] public string Name { get; set; } = "";

    /// <summary>How the plan is paid: PayPerUse, Bundle or Subscription.</summary>
    public PlanKind Kind { get; set; }

    /// <summary>Price in minor units (cents): per unit of generation, per bundle or per month.</summary>
    [Range(0, 100_000_000)] public long PriceMinor { get; set; }

    /// <summary>ISO currency code, lower case as Stripe writes it.</summary>
    [Required] public string Currency { get; set; } = "usd";

    /// <summary>Credits a bundle grants; 1 for pay per use; 0 for the subscription.</summary>
    [Range(0, 1_000_000)] public int Credits { get; set; }

    /// <summary>Subscription only: units per billing period after which each answer carries a warning.</summary>
    [Range(0, 1_000_000)] public int SoftLimit { get; set; } = 200;

    /// <summary>Subscription only: units per billing period after which generation stops (fair_use_limit).</summary>
    [Range(1, 1_000_000)] public int HardCap { get; set; } = 1000;

    /// <summary>Generations per minute a customer on this plan may start.</summary>
    [Range(1, 10_000_000)] public int RatePerMinute { get; set; } = 30;
}

/// <summary>
/// The plans, by key: pay_per_use, bundle_10, bundle_25, subscription_unlimited. Neutral ground: Credits reads the limits
/// and the per-unit price, Billing the prices and lookup keys; this folder depends on no other feature.
/// </summary>
public sealed class PlanCatalog(IOptions<PlanCatalogOptions> options)
{
    public const string PayPerUse = "pay_per_use";
    public const string Bundle10 = "bundle_10";
    public const string Bundle25 = "bundle_25";
    public const string SubscriptionUnlimited = "subscription_unlimited";

    /// <summary>The keys every configuration must have: the pages, Checkout and the funding policy name them.</summary>
    public static readonly IReadOnlyList<string> RequiredKeys = [PayPerUse, Bundle10, Bundle25, SubscriptionUnlimited];

    public IReadOnlyDictionary<string, PlanOptions> Plans => options.Value.Plans;

    public PlanOptions? Find(string key) => options.Value.Plans.GetValueOrDefault(key);

    public PlanOptions Get(string key) => Find(key) ?? throw new InvalidOperationException($"Plan '{key}' is not configured under Billing:Plans");
}

/// <summary>The <c>Billing</c> section's plan table.</summary>
public sealed class PlanCatalogOptions
{
    /// <summary>Plans by key; the key is the Stripe price lookup key.</summary>
    public Dictionary<string, PlanOptions> Plans { get; set; } = new(StringComparer.Ordinal);
}
