using System.Net;
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
}
