using GenSaaS.Web.Features.Plans;
using System.Collections.Concurrent;
using GenSaaS.Web.Features.Operations;

namespace GenSaaS.Web.Features.Billing;

/// <summary>Finds each plan's Stripe price by its lookup key, and creates the products and prices that are missing.</summary>
public sealed class StripePrices(StripeGateway stripe, PlanCatalog plans, BillingModeInfo mode, ILogger<StripePrices> logger)
{
    private readonly ConcurrentDictionary<string, string> _priceIds = new(StringComparer.Ordinal);

    /// <summary>
    /// The price id for a plan. In Emulator mode a missing price is created on demand; against Stripe it must exist
    /// (run <c>GenSaaS.Web stripe sync</c>).
    /// </summary>
    public async Task<string> PriceIdAsync(string planKey, CancellationToken ct)
    {
        if (_priceIds.TryGetValue(planKey, out var cached))
            return cached;
        var price = await stripe.FindPriceAsync(planKey, ct);
        if (price is null && mode.IsEmulator)
        {
            await SyncAsync(TextWriter.Null, ct);
            price = await stripe.FindPriceAsync(planKey, ct);
        }
        if (price is null)
            throw new InvalidOperationException($"Stripe has no price with lookup key '{planKey}'; run 'GenSaaS.Web stripe sync'.");
        return _priceIds[planKey] = price.Id;
    }

    /// <summary>Creates what is missing and changes nothing that exists; returns how many objects it created.</summary>
    public async Task<int> SyncAsync(TextWriter output, CancellationToken ct)
    {
        var created = 0;
        var products = await stripe.ProductsByPlanKeyAsync(ct);
        foreach (var (key, plan) in plans.Plans.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var price = await stripe.FindPriceAsync(key, ct);
            if (price is not null)
            {
                if (price.UnitAmount != plan.PriceMinor || !string.Equals(price.Currency, plan.Currency, StringComparison.OrdinalIgnoreCase))
                    await output.WriteLineAsync($"warning: {key}: Stripe price {price.Id} is {price.UnitAmount} {price.Currency}, configuration says {plan.PriceMinor} {plan.Currency}");
                await output.WriteLineAsync($"{key}: price {price.Id} exists");
                _priceIds[key] = price.Id;
                continue;
            }
            if (!products.TryGetValue(key, out var product))
            {
                product = await stripe.CreateProductAsync(key, plan, ct);
                products[key] = product;
                created++;
                await output.WriteLineAsync($"{key}: created product {product.Id}");
            }
            price = await stripe.CreatePriceAsync(key, plan, product.Id, ct);
            created++;
            _priceIds[key] = price.Id;
            logger.LogInformation("Created Stripe price {PriceId} for plan {PlanKey}", price.Id, key);
            await output.WriteLineAsync($"{key}: created price {price.Id} ({plan.PriceMinor} {plan.Currency}{(plan.Kind == PlanKind.Subscription ? " a month" : "")})");
        }
        await output.WriteLineAsync(created == 0 ? "Stripe already has every plan; nothing changed." : $"Created {created} Stripe object(s).");
        return created;
    }
}

/// <summary>
/// <c>GenSaaS.Web stripe sync</c>: creates the products and prices of <c>Billing:Plans</c> that Stripe lacks, then the
/// webhook endpoint and the portal configuration (<see cref="StripeAccountSetup"/>). Running it again changes nothing.
/// </summary>
public sealed class StripeSyncCommand(StripePrices prices, StripeAccountSetup account, BillingModeInfo mode) : ICliCommand
{
    public string Name => "stripe sync";

    public string Usage => "stripe sync    create missing Stripe products and prices for Billing:Plans (by lookup key), the webhook endpoint and the portal configuration";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        if (!mode.IsEnabled)
        {
            await output.WriteLineAsync("Billing is disabled: set Billing:SecretKey (or STRIPE_SECRET_KEY).");
            return 2;
        }
        await prices.SyncAsync(output, ct);
        return await account.SyncAsync(output, ct) ? 0 : 1;
    }
}
