using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;
using Hangfire;
using Hangfire.Storage;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>The app as Production runs it: no emulator unless asked for, and then never silently.</summary>
internal sealed class ProductionApp(Dictionary<string, string?> settings, string? dataDir = null) : TestApp(settings, dataDir)
{
    protected override string EnvironmentName => "Production";
}

[Collection(BillingCollection.Name)]
public sealed class BillingModeTests
{
    [Fact]
    public async Task Production_WithoutKeys_IsDisabled_PagesSaySo_AndTheApiAnswersBillingDisabled()
    {
        using var app = new ProductionApp([]);
        app.Services.GetRequiredService<BillingModeInfo>().Mode.ShouldBe(BillingMode.Disabled);
        var (_, client) = await app.SignedInUserAsync();

        var page = await client.GetStringAsync("/billing");
        page.ShouldContain("data-testid=\"billing-disabled\"");
        page.ShouldNotContain("data-testid=\"choose-");

        var checkout = await client.PostAsJsonAsync("/api/billing/checkout", new { plan = "bundle_10" });
        checkout.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await BillingTestApp.ProblemCodeAsync(checkout)).ShouldBe("billing_disabled");
        (await client.GetAsync("/emulator/stripe/v1/prices")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await client.PostAsync("/api/billing/webhook", new StringContent("{}"))).StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
    }

    [Fact]
    public void BillingOff_RegistersNoBillingJob_AndBillingOn_RegistersTheSweepAndTheHoldWatchdog()
    {
        static List<string> RecurringIds(TestApp app)
        {
            using var connection = app.Services.GetRequiredService<JobStorage>().GetConnection();
            return connection.GetRecurringJobs().Select(j => j.Id).ToList();
        }

        using (var off = new ProductionApp([]))
        {
            off.Services.GetRequiredService<BillingModeInfo>().Mode.ShouldBe(BillingMode.Disabled);
            RecurringIds(off).ShouldNotContain(PayPerUseSweepJob.RecurringId);
            RecurringIds(off).ShouldNotContain(HoldWatchdog.RecurringId);
        }

        using var on = new TestApp();
        RecurringIds(on).ShouldContain(PayPerUseSweepJob.RecurringId);
        RecurringIds(on).ShouldContain(HoldWatchdog.RecurringId);
    }

    [Fact]
    public async Task Production_OnTheStandInOnlyByExplicitChoice_ShowsABannerOnEveryPage()
    {
        using var app = new ProductionApp(new() { ["Billing:Mode"] = "Emulator" });
        app.Services.GetRequiredService<BillingModeInfo>().Mode.ShouldBe(BillingMode.Emulator);
        var (_, client) = await app.SignedInUserAsync();
        foreach (var path in new[] { "/", "/billing", "/generate" })
            (await client.GetStringAsync(path)).ShouldContain("data-testid=\"emulator-banner\"", customMessage: path);
    }

    [Fact]
    public async Task Development_DefaultsToTheStandIn_WithoutABanner()
    {
        using var app = new TestApp();
        app.Services.GetRequiredService<BillingModeInfo>().Mode.ShouldBe(BillingMode.Emulator);
        var (_, client) = await app.SignedInUserAsync();
        (await client.GetStringAsync("/billing")).ShouldNotContain("emulator-banner");
    }

    [Fact]
    public void StripeMode_WithoutAWebhookSecret_RefusesToStart()
    {
        var key = "sk_test_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        using var app = new ProductionApp(new() { ["Billing:Mode"] = "Stripe", ["Billing:SecretKey"] = key });
        var error = Should.Throw<Exception>(() => app.BaseAddress);
        error.ToString().ShouldContain("webhook secret");
    }

    [Fact]
    public async Task StripeMode_WithoutAConfiguredWebhookSecret_StartsWithTheOneStripeSyncStored_AndVerifiesWithIt()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "gensaas-tests", Guid.NewGuid().ToString("N"));
        var stored = "whsec_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        using (var first = new TestApp([], dataDir) { KeepDataDir = true })
        {
            _ = first.BaseAddress;
            await first.Services.GetRequiredService<BillingSettings>().SetAsync(
                new Dictionary<string, string> { [BillingSettings.WebhookSecretKey] = stored }, CancellationToken.None);
        }
        BillingSettings.ReadAtStartup(Path.Combine(dataDir, "gensaas.db"), BillingSettings.WebhookSecretKey).ShouldBe(stored);
        var key = "sk_test_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        using var app = new ProductionApp(new() { ["Billing:Mode"] = "Stripe", ["Billing:SecretKey"] = key }, dataDir);
        app.Services.GetRequiredService<BillingModeInfo>().WebhookSecret.ShouldBe(stored);

        var payload = """{"id":"evt_stored_secret","object":"event","api_version":"2026-10-28.endive","created":1,"type":"customer.created","data":{"object":{"id":"cus_x","object":"customer"}}}""";
        using var client = app.CreateClient();
        async Task<HttpStatusCode> DeliverAsync(string secret)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new StringContent(payload, System.Text.Encoding.UTF8, "application/json") };
            request.Headers.TryAddWithoutValidation("Stripe-Signature", Stripe.EventUtility.GenerateSignatureHeader(payload, secret, DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
            return (await client.SendAsync(request)).StatusCode;
        }
        (await DeliverAsync("whsec_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)))).ShouldBe(HttpStatusCode.BadRequest);
        (await DeliverAsync(stored)).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public void Production_WithASecretKey_TalksToStripe()
    {
        var key = "sk_test_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        using var app = new ProductionApp(new() { ["Billing:SecretKey"] = key, ["Billing:WebhookSecret"] = "whsec_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)) });
        var mode = app.Services.GetRequiredService<BillingModeInfo>();
        mode.Mode.ShouldBe(BillingMode.Stripe);
        mode.ShowEmulatorBanner.ShouldBeFalse();
    }
}
