using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Billing.Webhooks;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>The events the app handles are listed once in code; the documentation names exactly those.</summary>
public sealed class HandledEventsTests
{
    private static string RepositoryFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GenSaaS.sln")))
                return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException("The repository root was not found above the test binaries.");
    }

    [Fact]
    public void DocsListExactlyTheEventsTheApplierHandles()
    {
        var docs = File.ReadAllText(RepositoryFile("docs/billing.md"));
        var start = docs.IndexOf("these events:", StringComparison.Ordinal);
        start.ShouldBeGreaterThanOrEqualTo(0, "docs/billing.md lists the events after 'these events:'");
        var paragraph = docs[start..docs.IndexOf("HandledEvents", start, StringComparison.Ordinal)];
        var listed = Regex.Matches(paragraph, "`([a-z_]+(?:\\.[a-z_]+)+)`").Select(m => m.Groups[1].Value).ToList();
        listed.Order().ShouldBe(StripeEventApplier.HandledEvents.Order());
        StripeEventApplier.HandledEvents.Distinct().Count().ShouldBe(StripeEventApplier.HandledEvents.Count);
    }

    [Theory]
    [InlineData("customer.updated")]
    [InlineData("payment_method.attached")]
    [InlineData("payment_method.detached")]
    [InlineData("setup_intent.succeeded")]
    public void CardEvents_AreHandled(string type) => StripeEventApplier.HandledEvents.ShouldContain(type);
}
