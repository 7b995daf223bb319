using NetArchTest.Rules;

namespace GenSaaS.Web.Tests.Architecture;

/// <summary>
/// The shape of the core, checked on the compiled app (type references, signatures and method bodies): Credits is a leaf
/// that knows only Data and the plan catalogue; Data knows no feature; Plans knows no other feature.
/// </summary>
public sealed class DependencyRulesTests
{
    private const string Features = "GenSaaS.Web.Features";

    private static Types App => Types.InAssembly(typeof(Program).Assembly);

    private static void ShouldHold(TestResult result, string rule) =>
        result.IsSuccessful.ShouldBeTrue($"{rule}; offending types: {string.Join(", ", result.FailingTypeNames ?? [])}");

    [Theory]
    [InlineData("Billing")]
    [InlineData("Generation")]
    [InlineData("Accounts")]
    [InlineData("Dashboard")]
    [InlineData("Admin")]
    public void Credits_DoesNotReference(string feature) =>
        ShouldHold(App.That().ResideInNamespace($"{Features}.Credits").ShouldNot().HaveDependencyOn($"{Features}.{feature}").GetResult(),
            $"Credits must not reference {feature}");

    [Fact]
    public void Data_ReferencesNoFeature() =>
        ShouldHold(App.That().ResideInNamespace("GenSaaS.Web.Data").ShouldNot().HaveDependencyOn(Features).GetResult(),
            "Data must not reference any feature");

    [Fact]
    public void Plans_ReferencesNoOtherFeature()
    {
        var others = typeof(Program).Assembly.GetTypes()
            .Select(t => t.Namespace)
            .OfType<string>()
            .Where(ns => ns.StartsWith(Features + ".", StringComparison.Ordinal) && !ns.StartsWith(Features + ".Plans", StringComparison.Ordinal))
            .Select(ns => string.Join('.', ns.Split('.').Take(4)))
            .Distinct()
            .ToArray();
        others.ShouldNotBeEmpty();
        ShouldHold(App.That().ResideInNamespace($"{Features}.Plans").ShouldNot().HaveDependencyOnAny(others).GetResult(),
            "Plans must not reference another feature");
    }

    /// <summary>The rule itself bites: Generation does reference Credits and Billing, so the same check on it fails.</summary>
    [Fact]
    public void TheRule_CatchesAReferenceWhereThereIsOne() =>
        App.That().ResideInNamespace($"{Features}.Generation").ShouldNot().HaveDependencyOn($"{Features}.Billing").GetResult()
            .IsSuccessful.ShouldBeFalse();
}
