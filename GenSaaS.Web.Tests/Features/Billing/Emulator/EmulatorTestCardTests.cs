using System.Net;
using GenSaaS.StripeEmulator;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>Stripe's documented test cards behave in the emulator as at Stripe (docs.stripe.com/testing).</summary>
public sealed class EmulatorTestCardTests(EmulatorApp app) : IClassFixture<EmulatorApp>
{
    private async Task<Stripe.Checkout.Session> SetupSessionAsync(string customerId) =>
        await new Stripe.Checkout.SessionService(app.Stripe).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "setup", Customer = customerId, Currency = "usd",
            SuccessUrl = "https://app.example/billing/done?session={CHECKOUT_SESSION_ID}", CancelUrl = "https://app.example/billing",
        });

    private async Task<Customer> NewCustomerAsync() =>
        await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions { Email = $"t-{Guid.NewGuid():N}@example.com" });

    private async Task<HttpResponseMessage> PayAsync(string url, string card, string? authentication)
    {
        using var browser = app.NewClient();
        var fields = new Dictionary<string, string> { ["Input.CardNumber"] = card };
        if (authentication is not null) fields["Input.Authentication"] = authentication;
        return await Infrastructure.TestApp.PostFormAsync(browser, url, fields);
    }

    private PaymentIntentCreateOptions OffSessionHold(string customerId, string pm) => new()
    {
        Amount = 500, Currency = "usd", Customer = customerId, PaymentMethod = pm, CaptureMethod = "manual",
        Confirm = true, OffSession = true, AllowedPaymentMethodTypes = ["card"],
    };

    [Fact]
    public async Task Card9995_IsDeclinedForInsufficientFunds_EvenWhenOnlySaved()
    {
        var customer = await NewCustomerAsync();
        var session = await SetupSessionAsync(customer.Id);
        var page = await PayAsync(session.Url, TestCard.VisaInsufficientFunds, null);
        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await page.Content.ReadAsStringAsync()).ShouldContain("Your card has insufficient funds.");
        (await new Stripe.Checkout.SessionService(app.Stripe).GetAsync(session.Id)).Status.ShouldBe("open");

        var ex = await Should.ThrowAsync<StripeException>(() => new PaymentMethodService(app.Stripe).AttachAsync(
            "pm_card_visa_chargeDeclinedInsufficientFunds", new PaymentMethodAttachOptions { Customer = customer.Id }));
        ex.HttpStatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        ex.StripeError.Type.ShouldBe("card_error");
        ex.StripeError.Code.ShouldBe("card_declined");
        ex.StripeError.DeclineCode.ShouldBe("insufficient_funds");
        ex.StripeError.Message.ShouldBe("Your card has insufficient funds.");
        (await new PaymentMethodService(app.Stripe).ListAsync(new PaymentMethodListOptions { Customer = customer.Id })).Data.ShouldBeEmpty();
    }

    [Fact]
    public async Task Card9995_OnSessionPayment_IsDeclinedToo()
    {
        var ex = await Should.ThrowAsync<StripeException>(() => new PaymentIntentService(app.Stripe).CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = 500, Currency = "usd", PaymentMethod = "pm_card_visa_chargeDeclinedInsufficientFunds", Confirm = true, AllowedPaymentMethodTypes = ["card"],
        }));
        ex.StripeError.DeclineCode.ShouldBe("insufficient_funds");
        ex.StripeError.PaymentIntent.Status.ShouldBe("requires_payment_method");
    }

    [Fact]
    public async Task Card0341_SavesFine_ButAPaymentCheckoutDeclinesIt()
    {
        var (customer, pm) = await app.CustomerWithCardAsync(TestCard.VisaDeclinedAfterAttach);
        (await new PaymentMethodService(app.Stripe).GetAsync(pm)).CustomerId.ShouldBe(customer.Id);

        var price = await app.PriceAsync(900);
        var session = await new Stripe.Checkout.SessionService(app.Stripe).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "payment", LineItems = [new() { Price = price.Id, Quantity = 1 }],
            SuccessUrl = "https://app.example/ok", CancelUrl = "https://app.example/no",
        });
        var page = await PayAsync(session.Url, TestCard.VisaDeclinedAfterAttach, null);
        (await page.Content.ReadAsStringAsync()).ShouldContain("Your card was declined.");
        (await new Stripe.Checkout.SessionService(app.Stripe).GetAsync(session.Id)).Status.ShouldBe("open");
    }

    [Fact]
    public async Task Card3184_AtCheckout_AsksFor3DSecure_FailKeepsTheSessionOpen_CompleteSavesTheCard()
    {
        var customer = await NewCustomerAsync();
        var session = await SetupSessionAsync(customer.Id);
        var step = await PayAsync(session.Url, TestCard.VisaAuthenticationAlways, null);
        step.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await step.Content.ReadAsStringAsync();
        html.ShouldContain("data-testid=\"three-d-secure-complete\"");
        html.ShouldContain("data-testid=\"three-d-secure-fail\"");
        (await new Stripe.Checkout.SessionService(app.Stripe).GetAsync(session.Id)).Status.ShouldBe("open");

        var failed = await PayAsync(session.Url, TestCard.VisaAuthenticationAlways, "fail");
        (await failed.Content.ReadAsStringAsync()).ShouldContain(WebUtility.HtmlEncode(EmulatedStripe.AuthenticationFailedMessage));
        (await new Stripe.Checkout.SessionService(app.Stripe).GetAsync(session.Id)).Status.ShouldBe("open");
        (await new PaymentMethodService(app.Stripe).ListAsync(new PaymentMethodListOptions { Customer = customer.Id })).Data.ShouldBeEmpty();

        (await PayAsync(session.Url, TestCard.VisaAuthenticationAlways, "complete")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var completed = await new Stripe.Checkout.SessionService(app.Stripe).GetAsync(session.Id, new Stripe.Checkout.SessionGetOptions { Expand = ["setup_intent"] });
        completed.Status.ShouldBe("complete");
        completed.SetupIntent.Status.ShouldBe("succeeded");
    }

    [Fact]
    public async Task Card3184_OffSession_IsDeclinedAuthenticationRequired_EvenAfterAnAuthenticatedSetup()
    {
        var customer = await NewCustomerAsync();
        var session = await SetupSessionAsync(customer.Id);
        (await PayAsync(session.Url, TestCard.VisaAuthenticationAlways, "complete")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var pm = (await new SetupIntentService(app.Stripe).GetAsync((await new Stripe.Checkout.SessionService(app.Stripe).GetAsync(session.Id)).SetupIntentId)).PaymentMethodId;

        var ex = await Should.ThrowAsync<StripeException>(() => new PaymentIntentService(app.Stripe).CreateAsync(OffSessionHold(customer.Id, pm)));
        ex.HttpStatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        ex.StripeError.Type.ShouldBe("card_error");
        ex.StripeError.Code.ShouldBe("authentication_required");
        ex.StripeError.DeclineCode.ShouldBe("authentication_required");
        ex.StripeError.Message.ShouldBe("Your card was declined. This transaction requires authentication.");
        ex.StripeError.PaymentIntent.Status.ShouldBe("requires_payment_method");
        ex.StripeError.PaymentIntent.LastPaymentError.Code.ShouldBe("authentication_required");
        var charge = await new ChargeService(app.Stripe).GetAsync(ex.StripeError.PaymentIntent.LatestChargeId);
        charge.Status.ShouldBe("failed");
        charge.FailureCode.ShouldBe("authentication_required");
    }

    [Fact]
    public async Task Card3184_OnSessionConfirm_AnswersRequiresAction_AndChargesNothing()
    {
        var (customer, _) = await app.CustomerWithCardAsync(TestCard.Visa);
        var pi = await new PaymentIntentService(app.Stripe).CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = 500, Currency = "usd", Customer = customer.Id, PaymentMethod = "pm_card_authenticationRequired", Confirm = true,
            AllowedPaymentMethodTypes = ["card"],
        });
        pi.Status.ShouldBe("requires_action");
        pi.NextAction.Type.ShouldBe("use_stripe_sdk");
        pi.LatestChargeId.ShouldBeNull();
        (await app.EventsAsync("payment_intent.requires_action")).ShouldContain(e => ((PaymentIntent)e.Data.Object).Id == pi.Id);
        (await new PaymentIntentService(app.Stripe).CancelAsync(pi.Id)).Status.ShouldBe("canceled");
    }

    [Fact]
    public async Task Card3155_SetUpWithAuthentication_ThenOffSessionHoldsSucceed()
    {
        var customer = await NewCustomerAsync();
        var session = await SetupSessionAsync(customer.Id);
        (await PayAsync(session.Url, TestCard.VisaAuthenticationOnSetup, null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await PayAsync(session.Url, TestCard.VisaAuthenticationOnSetup, "complete")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var pm = (await new SetupIntentService(app.Stripe).GetAsync((await new Stripe.Checkout.SessionService(app.Stripe).GetAsync(session.Id)).SetupIntentId)).PaymentMethodId;

        var hold = await new PaymentIntentService(app.Stripe).CreateAsync(OffSessionHold(customer.Id, pm));
        hold.Status.ShouldBe("requires_capture");
    }

    [Fact]
    public async Task Card3155_NeverSetUp_IsDeclinedAuthenticationRequiredOffSession()
    {
        var customer = await NewCustomerAsync();
        var pm = await new PaymentMethodService(app.Stripe).AttachAsync("pm_card_authenticationRequiredOnSetup", new PaymentMethodAttachOptions { Customer = customer.Id });
        var ex = await Should.ThrowAsync<StripeException>(() => new PaymentIntentService(app.Stripe).CreateAsync(OffSessionHold(customer.Id, pm.Id)));
        ex.StripeError.Code.ShouldBe("authentication_required");
        ex.StripeError.PaymentIntent.Status.ShouldBe("requires_payment_method");
    }

    [Fact]
    public async Task CardOnlyIntent_RecordsItsPaymentMethodTypes_AutomaticOnesOtherwise()
    {
        var (customer, pm) = await app.CustomerWithCardAsync(TestCard.Visa);
        var cardOnly = await new PaymentIntentService(app.Stripe).CreateAsync(OffSessionHold(customer.Id, pm));
        cardOnly.AllowedPaymentMethodTypes.ShouldBe(["card"]);
        cardOnly.PaymentMethodTypes.ShouldBe(["card"]);
        cardOnly.AutomaticPaymentMethods.ShouldBeNull();

        var noRedirects = await new PaymentIntentService(app.Stripe).CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = 500, Currency = "usd", Customer = customer.Id,
            AutomaticPaymentMethods = new PaymentIntentAutomaticPaymentMethodsOptions { Enabled = true, AllowRedirects = "never" },
        });
        noRedirects.AutomaticPaymentMethods.AllowRedirects.ShouldBe("never");
    }

    [Fact]
    public async Task Card3184_InThePortal_AsksFor3DSecure_ThenBecomesTheDefault()
    {
        var sub = await app.SubscribeAsync(TestCard.Visa);
        var portal = await app.PortalSessionAsync(sub.CustomerId);
        using var browser = app.NewClient();
        var step = await Infrastructure.TestApp.PostFormAsync(browser, portal.Url + "?handler=Card", new() { ["Input.CardNumber"] = TestCard.VisaAuthenticationAlways });
        (await step.Content.ReadAsStringAsync()).ShouldContain("three-d-secure-complete");
        (await new PaymentMethodService(app.Stripe).ListAsync(new PaymentMethodListOptions { Customer = sub.CustomerId })).Data
            .ShouldNotContain(pm => pm.Card.Last4 == "3184", "nothing is saved before the customer passes 3-D Secure");

        await app.ChangeCardInPortalAsync(sub.CustomerId, TestCard.VisaAuthenticationAlways);
        var customer = await new CustomerService(app.Stripe).GetAsync(sub.CustomerId, new CustomerGetOptions { Expand = ["invoice_settings.default_payment_method"] });
        customer.InvoiceSettings.DefaultPaymentMethod.Card.Last4.ShouldBe("3184");
        (await app.EventsAsync("setup_intent.succeeded")).ShouldContain(e => ((SetupIntent)e.Data.Object).PaymentMethodId == customer.InvoiceSettings.DefaultPaymentMethodId);
    }
}
