using System.Text.RegularExpressions;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// What the source says about every Stripe call: one client, in the gateway, and every POST with an idempotency key of
/// ours (Stripe.net's own key is random per call, so a retry from our jobs would be a new request).
/// </summary>
public sealed partial class StripeCallsTests
{
    private static string SourceRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GenSaaS.Web", "Features", "Billing", "StripeGateway.cs")))
                return dir.FullName;
        throw new InvalidOperationException("The sources are not above the test's folder.");
    }

    // DELETE requests are left out: Stripe ignores idempotency keys on GET and DELETE.
    [GeneratedRegex(@"new\s+[\w.]*Service\(Client\)\s*\.\s*(Create|Update|Capture|Cancel|Confirm|Attach|Detach|Expire)\w*Async\((?<call>.*?)\bct\);", RegexOptions.Singleline)]
    private static partial Regex PostingCall();

    [Fact]
    public void EveryPostTheGatewaySends_CarriesAnIdempotencyKeyOfOurs()
    {
        var gateway = File.ReadAllText(Path.Combine(SourceRoot(), "GenSaaS.Web", "Features", "Billing", "StripeGateway.cs"));
        var calls = PostingCall().Matches(gateway);
        calls.Count.ShouldBeGreaterThanOrEqualTo(10, "the pattern must see the gateway's calls for this test to mean anything");
        foreach (Match call in calls)
            call.Groups["call"].Value.ShouldContain("Idempotent(", customMessage: call.Value);
    }

    [Fact]
    public void OnlyTheGateway_MakesAStripeClientOrService()
    {
        var root = Path.Combine(SourceRoot(), "GenSaaS.Web");
        var offenders = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Where(f => Path.GetFileName(f) != "StripeGateway.cs")
            .Where(f => Regex.IsMatch(File.ReadAllText(f), @"new\s+(Stripe\.)?StripeClient\(|new\s+[\w.]*Service\(\s*(new\s+StripeClient|[\w.]*[Cc]lient)\s*\)"))
            .Select(f => Path.GetRelativePath(root, f))
            .ToList();
        offenders.ShouldBeEmpty();
    }
}
