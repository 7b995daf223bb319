using System.Net;
using System.Net.Sockets;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Billing.Webhooks;
using GenSaaS.Web.Features.Operations;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// <c>stripe sync</c> registers the webhook endpoint and the portal configuration, idempotently; <c>stripe doctor</c> says
/// what is wrong with the account. Both run as the operator runs them, against the emulator over HTTP.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class StripeAccountSetupTests
{
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>An app whose public address is the one it listens on, so the endpoint sync registers reaches it.</summary>
    private static BillingTestApp AppAt(int port, string? dataDir = null)
    {
        var app = new BillingTestApp(new() { ["App:PublicBaseUrl"] = $"http://127.0.0.1:{port}" }, dataDir);
        app.UseKestrel(port);
        _ = app.BaseAddress;
        return app;
    }

    private static async Task<(int Exit, string Output)> RunAsync(BillingTestApp app, string command)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var cli = scope.ServiceProvider.GetServices<ICliCommand>().Single(c => c.Name == command);
        var output = new StringWriter();
        var exit = await cli.RunAsync(new CliArgs([]), output, CancellationToken.None);
        return (exit, output.ToString());
    }

    private static async Task<List<WebhookEndpoint>> EndpointsAsync(BillingTestApp app, string url) =>
        (await new WebhookEndpointService(app.StripeClient).ListAsync(new WebhookEndpointListOptions { Limit = 100 })).Data.Where(e => e.Url == url).ToList();

    private static Task<string?> SettingAsync(BillingTestApp app, string key) =>
        app.QueryAsync<string?>("SELECT value FROM billing_settings WHERE key = @key", new { key });

    [Fact]
    public async Task Sync_RegistersTheEndpointTheAppVerifies_AgainChangesNothing_AndRepairsWrongEventsOrVersion_DoctorSaysSo()
    {
        var port = FreePort();
        var dataDir = Path.Combine(Path.GetTempPath(), "gensaas-tests", Guid.NewGuid().ToString("N"));
        var url = $"http://127.0.0.1:{port}/api/billing/webhook";
        string secret;
        using (var app = AppAt(port, dataDir))
        {
            app.KeepDataDir = true;
            var (sick, diagnosis) = await RunAsync(app, "stripe doctor");
            sick.ShouldBe(1, diagnosis);
            diagnosis.ShouldContain("FAIL webhook endpoint: no endpoint for " + url);
            diagnosis.ShouldContain("FAIL price bundle_10");
            diagnosis.ShouldContain("FAIL portal configuration");

            var (exit, output) = await RunAsync(app, "stripe sync");
            exit.ShouldBe(0, output);
            output.ShouldContain("webhook: created endpoint");
            output.ShouldContain("portal: created configuration");
            var endpoint = (await EndpointsAsync(app, url)).ShouldHaveSingleItem();
            endpoint.ApiVersion.ShouldBe(StripeConfiguration.ApiVersion);
            endpoint.EnabledEvents.Order().ShouldBe(StripeEventApplier.HandledEvents.Order());
            (await SettingAsync(app, BillingSettings.WebhookEndpointIdKey)).ShouldBe(endpoint.Id);
            secret = (await SettingAsync(app, BillingSettings.WebhookSecretKey))!;
            secret.ShouldStartWith("whsec_");
            secret.ShouldNotBe(app.Emulator.WebhookSecret);

            // Events now go to the registered endpoint, signed with its secret, and the app applies them.
            var (user, client) = await app.SignedInUserAsync();
            await app.BuyAsync(client, "bundle_10");
            await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "credits granted from the registered endpoint's delivery");
            // The emulator records a delivery's status once the app's answer is back, which can be after the credits landed.
            List<(string? EndpointId, long? Status)> deliveries = [];
            await BillingTestApp.EventuallyAsync(async () =>
            {
                await using var connection = await app.Emulator.Store.OpenAsync();
                deliveries = (await Dapper.SqlMapper.QueryAsync<(string? EndpointId, long? Status)>(connection,
                    "SELECT endpoint_id, last_status FROM deliveries d JOIN events e ON e.id = d.event_id WHERE e.type = 'checkout.session.completed'")).ToList();
                return deliveries.Any(d => d.Status == 200);
            }, "the registered endpoint's delivery answered 200");
            deliveries.ShouldAllBe(d => d.EndpointId == endpoint.Id);

            var (again, secondRun) = await RunAsync(app, "stripe sync");
            again.ShouldBe(0, secondRun);
            secondRun.ShouldContain($"webhook: endpoint {endpoint.Id} for {url} is right; nothing changed");
            secondRun.ShouldContain("is right; nothing changed");
            secondRun.ShouldNotContain("created");
            (await EndpointsAsync(app, url)).ShouldHaveSingleItem().Id.ShouldBe(endpoint.Id);
            (await SettingAsync(app, BillingSettings.WebhookSecretKey)).ShouldBe(secret);
            (await new Stripe.BillingPortal.ConfigurationService(app.StripeClient).ListAsync()).Data.Count.ShouldBe(1);

            var (healthy, report) = await RunAsync(app, "stripe doctor");
            healthy.ShouldBe(0, report);
            report.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("FAIL", StringComparison.Ordinal)).ShouldBeEmpty();

            // The portal opens in the configuration sync made.
            var customerId = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = user.Id });
            var portal = await app.Services.GetRequiredService<StripeGateway>().CreatePortalSessionAsync(customerId, "http://127.0.0.1/billing", "test-click", CancellationToken.None);
            portal.ConfigurationId.ShouldBe(await SettingAsync(app, BillingSettings.PortalConfigurationIdKey));

            // Someone narrowed the events in the Dashboard: doctor fails, sync puts them back on the same endpoint.
            await new WebhookEndpointService(app.StripeClient).UpdateAsync(endpoint.Id, new WebhookEndpointUpdateOptions { EnabledEvents = ["invoice.paid"] });
            var (narrowed, narrowReport) = await RunAsync(app, "stripe doctor");
            narrowed.ShouldBe(1);
            narrowReport.ShouldContain($"FAIL webhook endpoint {endpoint.Id} listens to exactly");
            (await RunAsync(app, "stripe sync")).Output.ShouldContain($"webhook: updated endpoint {endpoint.Id}");
            (await EndpointsAsync(app, url)).ShouldHaveSingleItem().EnabledEvents.Order().ShouldBe(StripeEventApplier.HandledEvents.Order());
            (await SettingAsync(app, BillingSettings.WebhookSecretKey)).ShouldBe(secret);

            // An endpoint at the same URL in another API version: Stripe cannot change that, so it is replaced, once.
            await new WebhookEndpointService(app.StripeClient).DeleteAsync(endpoint.Id);
            await new WebhookEndpointService(app.StripeClient).CreateAsync(new WebhookEndpointCreateOptions { Url = url, EnabledEvents = ["*"], ApiVersion = "2024-06-20" });
            var (versionDoctor, versionReport) = await RunAsync(app, "stripe doctor");
            versionDoctor.ShouldBe(1);
            versionReport.ShouldContain("renders events in API version");
            var (fixedExit, fixedOutput) = await RunAsync(app, "stripe sync");
            fixedExit.ShouldBe(0, fixedOutput);
            fixedOutput.ShouldContain("API version is 2024-06-20");
            var replaced = (await EndpointsAsync(app, url)).ShouldHaveSingleItem();
            replaced.ApiVersion.ShouldBe(StripeConfiguration.ApiVersion);
            (await SettingAsync(app, BillingSettings.WebhookEndpointIdKey)).ShouldBe(replaced.Id);
            secret = (await SettingAsync(app, BillingSettings.WebhookSecretKey))!;
            (await RunAsync(app, "stripe doctor")).Exit.ShouldBe(0);
        }

        // A restarted app reads the stored secret at start and verifies the endpoint's deliveries with it.
        using (var restarted = AppAt(port, dataDir))
        {
            (await restarted.QueryAsync<string?>("SELECT value FROM billing_settings WHERE key = 'webhook_secret'")).ShouldBe(secret);
            var (user, client) = await restarted.SignedInUserAsync();
            await restarted.BuyAsync(client, "bundle_10");
            await BillingTestApp.EventuallyAsync(async () => await restarted.PrepaidAsync(user.Id) == 10, "credits granted after restart");
            (await restarted.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE status = 'failed'")).ShouldBe(0);
            await BillingTestApp.EventuallyAsync(async () =>
            {
                await using var connection = await restarted.Emulator.Store.OpenAsync();
                return await Dapper.SqlMapper.QuerySingleAsync<long>(connection, """
                    SELECT count(*) FROM deliveries d JOIN events e ON e.id = d.event_id
                    WHERE e.type = 'checkout.session.completed' AND instr(e.json, @userId) > 0 AND d.endpoint_id IS NOT NULL AND d.last_status = 200
                    """, new { userId = user.Id }) == 1;
            }, "the restarted app took the registered endpoint's delivery");
        }
    }

    [Fact]
    public async Task Sync_RepairsAPortalConfigurationSomeoneNarrowed_WithParametersStripeTakes()
    {
        using var app = AppAt(FreePort());
        (await RunAsync(app, "stripe sync")).Exit.ShouldBe(0);
        var id = (await SettingAsync(app, BillingSettings.PortalConfigurationIdKey))!;

        // Someone turned cancelling off in the Dashboard: sync sends the update call (every name in it checked by the
        // emulator against Stripe's parameters, nested features included) and the portal is right again.
        var portal = new Stripe.BillingPortal.ConfigurationService(app.StripeClient);
        await portal.UpdateAsync(id, new Stripe.BillingPortal.ConfigurationUpdateOptions
        {
            Features = new() { SubscriptionCancel = new() { Enabled = false } },
        });
        (await RunAsync(app, "stripe doctor")).Output.ShouldContain("FAIL portal configuration");

        var (exit, output) = await RunAsync(app, "stripe sync");
        exit.ShouldBe(0, output);
        output.ShouldContain($"portal: updated configuration {id}");
        var repaired = await portal.GetAsync(id);
        repaired.Features.SubscriptionCancel.Enabled.ShouldBeTrue();
        repaired.Features.SubscriptionCancel.Mode.ShouldBe("at_period_end");
        (await RunAsync(app, "stripe sync")).Output.ShouldContain($"portal: configuration {id} is right; nothing changed");
    }
}
