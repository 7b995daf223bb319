using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Billing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

public sealed class EmulatorSetupTests
{
    private sealed class Environment(string name) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = name;
        public string ApplicationName { get; set; } = "GenSaaS.Web";
        public string ContentRootPath { get; set; } = AppContext.BaseDirectory;
        public IFileProvider ContentRootFileProvider { get; set; } = new NullFileProvider();
    }

    [Theory]
    [InlineData(null, "Development", true)]
    [InlineData(null, "Production", false)]
    [InlineData("Emulator", "Production", true)]
    [InlineData("emulator", "Staging", true)]
    [InlineData("Stripe", "Development", false)]
    [InlineData("Disabled", "Development", false)]
    public void IsEnabled_OnlyInDevelopmentByDefault_OrWhenModeSaysEmulator(string? mode, string environment, bool expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Billing:Mode"] = mode }).Build();
        var options = configuration.GetSection("Billing").Get<BillingOptions>() ?? new BillingOptions();
        BillingModeInfo.Resolve(options, new Environment(environment)).IsEmulator.ShouldBe(expected);
    }

    [Fact]
    public void Faults_BindFromACommaSeparatedSetting()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Billing:Emulator:Faults"] = "Duplicate, Shuffle" }).Build();
        configuration.GetSection("Billing:Emulator").Get<EmulatorOptions>()!.Faults.ShouldBe(DeliveryFaults.Duplicate | DeliveryFaults.Shuffle);
    }

    [Theory]
    [InlineData("4242 4242 4242 4242", CardBehaviour.Succeeds)]
    [InlineData("4000-0000-0000-0002", CardBehaviour.DeclinedAlways)]
    [InlineData("4000000000009995", CardBehaviour.InsufficientFunds)]
    [InlineData("4000 0000 0000 0341", CardBehaviour.DeclinedAfterAttach)]
    [InlineData("4000 0027 6000 3184", CardBehaviour.AuthenticationAlways)]
    [InlineData("4000 0025 0000 3155", CardBehaviour.AuthenticationOnSetup)]
    public void TestCards_AreRecognisedWhateverTheSpacing(string typed, CardBehaviour behaviour) =>
        TestCard.Find(typed)!.Behaviour.ShouldBe(behaviour);

    [Fact]
    public void UnknownCardNumber_IsNotATestCard() => TestCard.Find("1234 5678 9012 3456").ShouldBeNull();
}
