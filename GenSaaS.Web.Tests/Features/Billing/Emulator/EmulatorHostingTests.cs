using System.Net;
using GenSaaS.Web.Features.Billing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>What the app sees of the emulator now that it is a project of its own: its keys in configuration, its pages and stylesheet at the same URLs.</summary>
public sealed class EmulatorHostingTests(EmulatorApp app) : IClassFixture<EmulatorApp>
{
    [Fact]
    public void Keys_ArePublishedIntoConfiguration_AndTheGatewayUsesThem()
    {
        var configuration = app.Services.GetRequiredService<IConfiguration>();
        configuration["Billing:Emulator:SecretKey"].ShouldBe(app.Emulator.SecretKey);
        configuration["Billing:Emulator:WebhookSecret"].ShouldBe(app.Emulator.WebhookSecret);
        app.Emulator.SecretKey.ShouldStartWith("sk_test_");
        app.Emulator.WebhookSecret.ShouldStartWith("whsec_");
        app.Services.GetRequiredService<StripeGateway>().WebhookSecret.ShouldBe(app.Emulator.WebhookSecret);
    }

    [Fact]
    public void GeneratedWebhookSecret_IsKeptInTheEmulatorsDatabase_ForTheNextStart()
    {
        using var first = new EmulatorApp(new());
        var webhookSecret = first.Emulator.WebhookSecret;
        using var second = new EmulatorApp(new(), dataDir: first.DataDir);
        second.Emulator.WebhookSecret.ShouldBe(webhookSecret);
        second.Services.GetRequiredService<StripeGateway>().WebhookSecret.ShouldBe(webhookSecret);
    }

    [Fact]
    public async Task HostedCheckoutPage_LinksItsStylesheet_WhichIsServedAtTheSameUrlAsBefore()
    {
        var price = await app.PriceAsync(500);
        var session = await new Stripe.Checkout.SessionService(app.Stripe).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "payment",
            LineItems = [new() { Price = price.Id, Quantity = 1 }],
            SuccessUrl = "https://app.example/billing/done?session={CHECKOUT_SESSION_ID}",
            CancelUrl = "https://app.example/billing",
        });
        using var client = app.NewClient();
        var page = await client.GetStringAsync(session.Url);
        page.ShouldContain("href=\"/css/emulator.css?v=");
        page.ShouldNotContain("<style");
        page.ShouldNotContain("<script");

        var css = await client.GetAsync("/css/emulator.css");
        css.StatusCode.ShouldBe(HttpStatusCode.OK);
        css.Content.Headers.ContentType!.MediaType.ShouldBe("text/css");
    }
}
