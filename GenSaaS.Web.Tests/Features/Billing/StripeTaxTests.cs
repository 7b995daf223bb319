using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Stripe;
using Stripe.Checkout;
using TaxSettingsService = Stripe.Tax.SettingsService;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// <c>Billing:Tax</c>: Checkout asks Stripe for tax on what it sells, <c>stripe doctor</c> says whether the
/// account's Stripe Tax can do it, and a session Stripe refuses leaves the customer on a clear page with nothing charged.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class StripeTaxTests
{
    private static Dictionary<string, string?> TaxOn(int? port = null)
    {
        var settings = new Dictionary<string, string?> { ["Billing:Tax"] = "true" };
        if (port is { } p) settings["App:PublicBaseUrl"] = $"http://127.0.0.1:{p}";
        return settings;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<(int Exit, string Output)> RunAsync(BillingTestApp app, string command)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var cli = scope.ServiceProvider.GetServices<ICliCommand>().Single(c => c.Name == command);
        var output = new StringWriter();
        var exit = await cli.RunAsync(new CliArgs([]), output, CancellationToken.None);
        return (exit, output.ToString());
    }

    private static Task<Stripe.Tax.Settings> ActivateTaxAsync(BillingTestApp app) =>
        new TaxSettingsService(app.StripeClient).UpdateAsync(new Stripe.Tax.SettingsUpdateOptions
        {
            HeadOffice = new Stripe.Tax.SettingsHeadOfficeOptions { Address = new AddressOptions { Country = "DE", PostalCode = "10115" } },
        });

    [Fact]
    public async Task Doctor_WithAutomaticTaxOn_FailsUntilStripeTaxIsActive_AndSyncLeavesTaxSettingsAlone()
    {
        var port = FreePort();
        using var app = new BillingTestApp(TaxOn(port));
        app.UseKestrel(port);
        _ = app.BaseAddress;

        (await RunAsync(app, "stripe sync")).Exit.ShouldBe(0);
        var (exit, report) = await RunAsync(app, "stripe doctor");
        exit.ShouldBe(1, report);
        var taxLine = report.Split('\n').Single(l => l.Contains("stripe tax", StringComparison.Ordinal));
        taxLine.ShouldStartWith("FAIL stripe tax: pending");
        taxLine.ShouldContain("head_office");
        taxLine.ShouldContain("Dashboard > Settings > Tax");
        report.ShouldContain("1 check(s) failed.");

        // Tax settings are the merchant's legal settings: sync does not touch them, however often it runs.
        (await RunAsync(app, "stripe sync")).Output.ShouldNotContain("tax");
        (await new TaxSettingsService(app.StripeClient).GetAsync()).Status.ShouldBe("pending");

        (await ActivateTaxAsync(app)).Status.ShouldBe("active");
        var (undecided, undecidedReport) = await RunAsync(app, "stripe doctor");
        undecided.ShouldBe(1, undecidedReport);
        undecidedReport.ShouldContain("OK   stripe tax: active");
        undecidedReport.ShouldContain("FAIL stripe tax: default tax behavior is not set: the prices ");
        undecidedReport.ShouldContain("bundle_10");

        await new TaxSettingsService(app.StripeClient).UpdateAsync(new Stripe.Tax.SettingsUpdateOptions
        {
            Defaults = new Stripe.Tax.SettingsDefaultsOptions { TaxBehavior = "exclusive" },
        });
        var (healthy, fixedReport) = await RunAsync(app, "stripe doctor");
        healthy.ShouldBe(0, fixedReport);
        fixedReport.ShouldContain("OK   stripe tax: active");
        fixedReport.ShouldContain("OK   stripe tax: default tax behavior is exclusive");
        fixedReport.ShouldContain("Stripe account is ready.");
    }

    [Fact]
    public async Task Doctor_WithAutomaticTaxOff_SaysTaxIsNotConfigured_AndDoesNotFailOnIt()
    {
        var port = FreePort();
        using var app = new BillingTestApp(new() { ["App:PublicBaseUrl"] = $"http://127.0.0.1:{port}" });
        app.UseKestrel(port);
        _ = app.BaseAddress;
        (await RunAsync(app, "stripe sync")).Exit.ShouldBe(0);

        var (exit, report) = await RunAsync(app, "stripe doctor");
        exit.ShouldBe(0, report);
        report.ShouldContain("OK   stripe tax: not configured");
        (await new TaxSettingsService(app.StripeClient).GetAsync()).Status.ShouldBe("pending");
    }

    [Fact]
    public async Task WithTaxActive_BundleAndSubscriptionCheckoutsCarryAutomaticTax_AndComplete_WhileSavingACardStaysWithoutTax()
    {
        using var app = new BillingTestApp(TaxOn());
        await ActivateTaxAsync(app);
        var (user, client) = await app.SignedInUserAsync();
        var sessions = new SessionService(app.StripeClient);

        var bundleSession = await app.BuyAsync(client, "bundle_10");
        // The grant and the payment row are written one after the other as the event is applied: wait for both.
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10
            && await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'bundle'", new { id = user.Id }) == 1, "bundle credits granted and paid");
        var bundle = await sessions.GetAsync(bundleSession);
        bundle.AutomaticTax.Enabled.ShouldBeTrue();
        bundle.AutomaticTax.Status.ShouldBe("complete");
        bundle.BillingAddressCollection.ShouldBe("required");
        bundle.PaymentStatus.ShouldBe("paid");
        bundle.TotalDetails.AmountTax.ShouldBe(0);
        // The emulator computes no tax: the customer paid the plan's price and the ledger says the same.
        var paid = await app.QueryAsync<long>("SELECT amount_minor FROM payments WHERE user_id = @id AND kind = 'bundle'", new { id = user.Id });
        paid.ShouldBe(bundle.AmountTotal!.Value);

        var subscriptionSession = await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        var subscription = await new SubscriptionService(app.StripeClient).GetAsync((await sessions.GetAsync(subscriptionSession)).SubscriptionId);
        subscription.AutomaticTax.Enabled.ShouldBeTrue();

        // Stripe refuses automatic tax in setup mode; saving a card for pay per use sends none and still works.
        var (cardUser, cardClient) = await app.SignedInUserAsync();
        var setupSession = await app.BuyAsync(cardClient, "pay_per_use");
        var setup = await sessions.GetAsync(setupSession);
        setup.Mode.ShouldBe("setup");
        setup.AutomaticTax.Enabled.ShouldBeFalse();
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = cardUser.Id }) is { Length: > 0 },
            "the saved card is on file");
    }

    [Fact]
    public async Task WithTaxOff_BundleAndSubscriptionCheckoutsCarryNoAutomaticTaxAndNoForcedAddress_AndCompleteWhileStripeTaxIsNotActive()
    {
        // Billing:Tax is off by default; Stripe Tax on the account stays pending, which must not matter.
        using var app = new BillingTestApp();
        var (user, client) = await app.SignedInUserAsync();
        var sessions = new SessionService(app.StripeClient);
        (await client.GetStringAsync("/billing/plan/subscribe")).ShouldNotContain("plus any tax Stripe adds");

        // The sessions as Stripe answers them when read back: what the app sent when it created them.
        var bundleSession = await app.BuyAsync(client, "bundle_10");
        var bundle = await sessions.GetAsync(bundleSession);
        bundle.Mode.ShouldBe("payment");
        bundle.AutomaticTax.Enabled.ShouldBeFalse();
        bundle.AutomaticTax.Status.ShouldBeNull();
        bundle.BillingAddressCollection.ShouldNotBe("required");
        (bundle.TaxIdCollection?.Enabled ?? false).ShouldBeFalse();
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "bundle credits granted");
        var paid = await app.QueryAsync<long>("SELECT amount_minor FROM payments WHERE user_id = @id AND kind = 'bundle'", new { id = user.Id });
        paid.ShouldBe(bundle.AmountTotal!.Value);

        var subscriptionSession = await app.BuyAsync(client, "subscription_unlimited");
        var subscribed = await sessions.GetAsync(subscriptionSession);
        subscribed.Mode.ShouldBe("subscription");
        subscribed.AutomaticTax.Enabled.ShouldBeFalse();
        subscribed.BillingAddressCollection.ShouldNotBe("required");
        (subscribed.TaxIdCollection?.Enabled ?? false).ShouldBeFalse();
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        (await new SubscriptionService(app.StripeClient).GetAsync(subscribed.SubscriptionId)).AutomaticTax.Enabled.ShouldBeFalse();
        (await new TaxSettingsService(app.StripeClient).GetAsync()).Status.ShouldBe("pending");
    }

    [Fact]
    public async Task WithTaxNotActive_TheBuyPageShowsAClearError_NotA500_AndNothingIsChargedOrCredited()
    {
        using var app = new BillingTestApp(TaxOn());
        var (user, client) = await app.SignedInUserAsync();
        var page = await client.GetStringAsync("/billing");
        page.ShouldNotContain("checkout-unavailable");

        // The form post, twice (a double click): each goes back to /billing with the notice.
        for (var click = 0; click < 2; click++)
        {
            var form = new Dictionary<string, string> { ["plan"] = "bundle_10", ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(page) };
            var response = await client.PostAsync("/api/billing/checkout", new FormUrlEncodedContent(form));
            response.StatusCode.ShouldBe(HttpStatusCode.SeeOther, await response.Content.ReadAsStringAsync());
            response.Headers.Location!.ToString().ShouldBe("/billing?checkout=unavailable");
        }
        var notice = await client.GetAsync("/billing?checkout=unavailable");
        notice.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await notice.Content.ReadAsStringAsync();
        html.ShouldContain("data-testid=\"checkout-unavailable\"");
        html.ShouldContain("Nothing was charged");
        html.ShouldNotContain("Stripe Tax has not been activated");

        using var htmx = new HttpRequestMessage(HttpMethod.Post, "/api/billing/checkout")
        {
            Content = new FormUrlEncodedContent([new("plan", "subscription_unlimited"), new("__RequestVerificationToken", TestApp.AntiforgeryToken(page))]),
        };
        htmx.Headers.Add("HX-Request", "true");
        var htmxResponse = await client.SendAsync(htmx);
        htmxResponse.StatusCode.ShouldBe(HttpStatusCode.OK);
        htmxResponse.Headers.GetValues("HX-Redirect").Single().ShouldBe("/billing?checkout=unavailable");

        using var json = new HttpRequestMessage(HttpMethod.Post, "/api/billing/checkout")
        {
            Content = new StringContent("{\"plan\":\"bundle_25\"}", System.Text.Encoding.UTF8, "application/json"),
        };
        json.Headers.Add("RequestVerificationToken", TestApp.AntiforgeryToken(page));
        var jsonResponse = await client.SendAsync(json);
        var body = await jsonResponse.Content.ReadAsStringAsync();
        jsonResponse.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable, body);
        using (var problem = JsonDocument.Parse(body))
            problem.RootElement.GetProperty("code").GetString().ShouldBe("checkout_unavailable");
        body.ShouldNotContain("stripe_tax_inactive");

        // Nothing started, charged or credited, here or at Stripe.
        (await app.QueryAsync<long>("SELECT count(*) FROM checkout_sessions WHERE user_id = @id", new { id = user.Id })).ShouldBe(0);
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id", new { id = user.Id })).ShouldBe(0);
        (await app.PrepaidAsync(user.Id)).ShouldBe(0);
        (await new SessionService(app.StripeClient).ListAsync()).Data.ShouldBeEmpty();
        (await new PaymentIntentService(app.StripeClient).ListAsync()).Data.ShouldBeEmpty();

        // Saving a card asks for no tax, so it works while Stripe Tax is not active.
        var setupSession = await app.BuyAsync(client, "pay_per_use");
        (await new SessionService(app.StripeClient).GetAsync(setupSession)).AutomaticTax.Enabled.ShouldBeFalse();

        // Once the operator activates Stripe Tax, the same customer can buy.
        await ActivateTaxAsync(app);
        await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "credits granted after tax was activated");
    }
}
