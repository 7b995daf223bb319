using System.Net;
using System.Net.Http.Json;
using GenSaaS.StripeEmulator;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>Where the emulator refuses or behaves as Stripe does even when that is less convenient than our code would like.</summary>
[Collection(BillingCollection.Name)]
public sealed class EmulatorStrictTests
{
    private const string ReturnUrlMessage = "A `return_url` must be specified because this Payment Intent is configured to automatically accept the payment methods enabled in the Dashboard";

    [Fact]
    public async Task ConfirmWithAutomaticPaymentMethodsThatRedirect_WithoutReturnUrl_IsRefusedAndCreatesNothing()
    {
        using var app = new EmulatorApp();
        var (customer, pm) = await app.CustomerWithCardAsync(TestCard.Visa);
        var intents = new PaymentIntentService(app.Stripe);
        PaymentIntentCreateOptions Hold() => new() { Amount = 500, Currency = "usd", Customer = customer.Id, PaymentMethod = pm, CaptureMethod = "manual", Confirm = true, OffSession = true };

        var refused = await Should.ThrowAsync<StripeException>(() => intents.CreateAsync(Hold()));
        refused.HttpStatusCode.ShouldBe(HttpStatusCode.BadRequest);
        refused.StripeError.Type.ShouldBe("invalid_request_error");
        refused.StripeError.Message.ShouldStartWith(ReturnUrlMessage);
        refused.StripeError.Message.ShouldContain("`automatic_payment_methods[allow_redirects]` to `never`");
        var explicitAlways = Hold();
        explicitAlways.AutomaticPaymentMethods = new PaymentIntentAutomaticPaymentMethodsOptions { Enabled = true, AllowRedirects = "always" };
        (await Should.ThrowAsync<StripeException>(() => intents.CreateAsync(explicitAlways))).StripeError.Message.ShouldStartWith(ReturnUrlMessage);
        (await intents.ListAsync(new PaymentIntentListOptions { Customer = customer.Id })).Data.ShouldBeEmpty();

        // The app's own pay-per-use hold (card only), no redirects, or a return_url: each is accepted.
        var cardOnly = Hold();
        cardOnly.AllowedPaymentMethodTypes = ["card"];
        (await intents.CreateAsync(cardOnly)).Status.ShouldBe("requires_capture");
        var never = Hold();
        never.AutomaticPaymentMethods = new PaymentIntentAutomaticPaymentMethodsOptions { Enabled = true, AllowRedirects = "never" };
        (await intents.CreateAsync(never)).Status.ShouldBe("requires_capture");
        var withReturn = Hold();
        withReturn.OffSession = null;
        withReturn.ReturnUrl = "https://app.example/billing";
        (await intents.CreateAsync(withReturn)).Status.ShouldBe("requires_capture");

        // Unconfirmed it is created; confirming it later needs the return_url just the same.
        var later = await intents.CreateAsync(new PaymentIntentCreateOptions { Amount = 500, Currency = "usd", Customer = customer.Id, PaymentMethod = pm });
        later.Status.ShouldBe("requires_confirmation");
        (await Should.ThrowAsync<StripeException>(() => intents.ConfirmAsync(later.Id, new PaymentIntentConfirmOptions())))
            .StripeError.Message.ShouldStartWith(ReturnUrlMessage);
        (await intents.GetAsync(later.Id)).Status.ShouldBe("requires_confirmation");
        (await intents.ConfirmAsync(later.Id, new PaymentIntentConfirmOptions { ReturnUrl = "https://app.example/billing" })).Status.ShouldBe("succeeded");
    }

    [Fact]
    public async Task PortalSession_WithoutConfiguration_OnAnAccountWithoutADefault_IsRefusedInStripesWords()
    {
        using var app = new EmulatorApp();
        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions { Email = "portal@example.com" });
        var sessions = new Stripe.BillingPortal.SessionService(app.Stripe);

        var refused = await Should.ThrowAsync<StripeException>(() => sessions.CreateAsync(new Stripe.BillingPortal.SessionCreateOptions { Customer = customer.Id }));
        refused.HttpStatusCode.ShouldBe(HttpStatusCode.BadRequest);
        refused.StripeError.Type.ShouldBe("invalid_request_error");
        refused.StripeError.Message.ShouldBe("No configuration provided and your test mode default configuration has not been created. Provide a configuration or create your default by saving your customer portal settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal.");
        refused.StripeError.Code.ShouldBeNull();
        refused.StripeError.Param.ShouldBeNull();

        // A configuration made by API is never the default: it opens sessions that name it, and only those.
        var named = await app.PortalSessionAsync(customer.Id);
        named.ConfigurationId.ShouldStartWith("bpc_");
        (await new Stripe.BillingPortal.ConfigurationService(app.Stripe).GetAsync(named.ConfigurationId)).IsDefault.ShouldBeFalse();
        (await Should.ThrowAsync<StripeException>(() => sessions.CreateAsync(new Stripe.BillingPortal.SessionCreateOptions { Customer = customer.Id })))
            .StripeError.Message.ShouldStartWith("No configuration provided");
    }

    [Fact]
    public async Task TheApp_OnAFreshEmulator_OpensThePortal_InTheConfigurationItMadeLikeStripeSync()
    {
        using var app = new BillingTestApp();
        var (_, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "subscription_unlimited");
        (await app.QueryAsync<long>("SELECT count(*) FROM billing_settings WHERE key = 'portal_configuration_id'")).ShouldBe(0);

        async Task<string> OpenPortalAsync()
        {
            var response = await client.PostAsJsonAsync("/api/billing/portal", new { });
            response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
            return (await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("url").GetString()!;
        }
        var urls = await Task.WhenAll(OpenPortalAsync(), OpenPortalAsync());

        var stored = await app.QueryAsync<string>("SELECT value FROM billing_settings WHERE key = 'portal_configuration_id'");
        var configurations = (await new Stripe.BillingPortal.ConfigurationService(app.StripeClient).ListAsync()).Data;
        configurations.Select(c => c.Id).ShouldBe([stored]);
        configurations[0].Metadata["app"].ShouldBe("gensaas");
        configurations[0].Features.SubscriptionCancel.Mode.ShouldBe("at_period_end");
        // The emulator refuses a session without a configuration, so both sessions were opened in this one (Stripe has no
        // API to read a portal session back).
        foreach (var url in urls)
            (await app.NewClient().GetAsync(url)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}
