using System.Reflection;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Billing;
using NetArchTest.Rules;

namespace GenSaaS.Web.Tests.Architecture;

/// <summary>
/// The Stripe emulator is Billing's test double of Stripe and nothing else's: only Billing may use its types, and it
/// knows nothing of the app (the app hands it what it needs when Billing adds it).
/// </summary>
public sealed class EmulatorBoundaryTests
{
    private const string EmulatorNamespace = "GenSaaS.StripeEmulator";
    private const string BillingNamespace = "GenSaaS.Web.Features.Billing";

    private static readonly Assembly App = typeof(BillingSetup).Assembly;
    private static readonly Assembly Emulator = typeof(EmulatedStripe).Assembly;

    [Fact]
    public void NoFeatureButBilling_ReferencesTheEmulatorsTypes()
    {
        var result = Types.InAssembly(App)
            .That().DoNotResideInNamespace(BillingNamespace)
            .ShouldNot().HaveDependencyOn(EmulatorNamespace)
            .GetResult();

        result.IsSuccessful.ShouldBeTrue("Only Billing may use the Stripe emulator; these types do: " + string.Join(", ", result.FailingTypeNames ?? []));
    }

    [Fact]
    public void Billing_IsWhereTheEmulatorIsAdded_SoTheRuleAboveSeesReferencesWhenThereAreSome()
    {
        Types.InAssembly(App)
            .That().ResideInNamespace(BillingNamespace)
            .And().HaveDependencyOn(EmulatorNamespace)
            .GetTypes().Select(t => t.FullName).ShouldContain(typeof(BillingSetup).FullName);
    }

    [Fact]
    public void TheEmulator_ReferencesNoTypeOfTheApp()
    {
        var result = Types.InAssembly(Emulator)
            .ShouldNot().HaveDependencyOn(App.GetName().Name)
            .GetResult();

        result.IsSuccessful.ShouldBeTrue("The emulator must not use the app's types; these do: " + string.Join(", ", result.FailingTypeNames ?? []));
        Emulator.GetReferencedAssemblies().Select(a => a.Name).ShouldNotContain(App.GetName().Name);
    }

    /// <summary>The first rule looks for the emulator's namespace; a type of the emulator outside it would slip through.</summary>
    [Fact]
    public void EveryTypeOfTheEmulator_LivesInItsNamespace()
    {
        var result = Types.InAssembly(Emulator)
            .That().AreNotNested().And().DoNotResideInNamespace("AspNetCoreGeneratedDocument").And().DoNotHaveNameStartingWith("<")
            .Should().ResideInNamespace(EmulatorNamespace)
            .GetResult();

        result.IsSuccessful.ShouldBeTrue("Outside " + EmulatorNamespace + ": " + string.Join(", ", result.FailingTypeNames ?? []));
    }
}
