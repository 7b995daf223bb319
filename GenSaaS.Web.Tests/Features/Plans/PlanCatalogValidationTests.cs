using GenSaaS.Web.Features.Plans;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Tests.Features.Plans;

public sealed class PlanCatalogValidationTests
{
    /// <summary>The plan table the app ships with (appsettings.json), read the way the app reads it.</summary>
    private static PlanCatalogOptions Shipped(Dictionary<string, string?>? overrides = null)
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: false)
            .AddInMemoryCollection(overrides ?? [])
            .Build();
        return configuration.GetSection("Billing").Get<PlanCatalogOptions>()!;
    }

    private static ValidateOptionsResult Validate(PlanCatalogOptions options) => new PlanCatalogValidator().Validate(null, options);

    [Fact]
    public void ShippedPlans_AreValid()
    {
        var result = Validate(Shipped());
        result.Failed.ShouldBeFalse(result.FailureMessage);
    }

    [Theory]
    [InlineData("Billing:Plans:bundle_10:PriceMinor", "-1", "Billing:Plans:bundle_10:PriceMinor is -1; a price cannot be negative.")]
    [InlineData("Billing:Plans:bundle_25:Name", " ", "Billing:Plans:bundle_25:Name is empty")]
    [InlineData("Billing:Plans:subscription_unlimited:HardCap", "0", "Billing:Plans:subscription_unlimited:HardCap is 0")]
    [InlineData("Billing:Plans:subscription_unlimited:SoftLimit", "1001", "Billing:Plans:subscription_unlimited:SoftLimit is 1001; it must be between 0 and HardCap (1000).")]
    [InlineData("Billing:Plans:pay_per_use:PriceMinor", "49", "Billing:Plans:pay_per_use:PriceMinor is 49 usd; Stripe's minimum charge in usd is 50")]
    [InlineData("Billing:Plans:pay_per_use:Currency", "USD", "Billing:Plans:pay_per_use:Currency 'USD' must be a three-letter ISO code in lower case")]
    [InlineData("Billing:Plans:bundle_10:Credits", "0", "Billing:Plans:bundle_10:Credits is 0; a bundle grants at least one credit.")]
    public void ABadValue_IsNamedWithItsKey(string key, string value, string expected)
    {
        var result = Validate(Shipped(new() { [key] = value }));
        result.Failed.ShouldBeTrue();
        result.FailureMessage.ShouldContain(expected);
    }

    [Theory]
    [InlineData("gbp", 29, true)]
    [InlineData("gbp", 30, false)]
    [InlineData("eur", 49, true)]
    [InlineData("jpy", 50, false)]
    [InlineData("jpy", 49, true)]
    [InlineData("xyz", 1, false)]
    public void PricesBelowStripesMinimumForTheCurrency_AreRefused(string currency, long price, bool refused)
    {
        var options = Shipped(new() { ["Billing:Plans:pay_per_use:Currency"] = currency, ["Billing:Plans:pay_per_use:PriceMinor"] = price.ToString() });
        Validate(options).Failed.ShouldBe(refused);
    }

    [Fact]
    public void AMissingPlan_IsNamed()
    {
        var options = Shipped();
        options.Plans.Remove(PlanCatalog.Bundle25);
        var result = Validate(options);
        result.Failed.ShouldBeTrue();
        result.FailureMessage.ShouldContain("Billing:Plans:bundle_25 is missing");
    }

    [Fact]
    public void EveryProblemIsReported_NotOnlyTheFirst()
    {
        var result = Validate(Shipped(new() { ["Billing:Plans:bundle_10:PriceMinor"] = "-5", ["Billing:Plans:bundle_25:Name"] = "" }));
        result.Failures!.Count().ShouldBe(2);
    }

    [Fact]
    public void TheApp_WithANegativePrice_RefusesToStart()
    {
        using var app = new TestApp(new() { ["Billing:Plans:bundle_10:PriceMinor"] = "-400" });
        var error = Should.Throw<Exception>(() => app.BaseAddress);
        error.ToString().ShouldContain("Billing:Plans:bundle_10:PriceMinor is -400");
    }
}
