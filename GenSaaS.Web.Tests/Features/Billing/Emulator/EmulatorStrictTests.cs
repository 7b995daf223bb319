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

    private static Newtonsoft.Json.Linq.JObject Previous(Event e) => (Newtonsoft.Json.Linq.JObject)e.Data.PreviousAttributes;

    private static async Task<List<Event>> InvoiceEventsAsync(EmulatorApp app, string type, string invoiceId) =>
        (await app.EventsAsync(type)).Where(e => ((Invoice)e.Data.Object).Id == invoiceId).Reverse().ToList();

    [Fact]
    public async Task EveryFailedAttempt_SendsInvoicePaymentFailed_AndInvoiceUpdated_WithOnlyWhatChanged()
    {
        using var app = new EmulatorApp(new() { ["Billing:Emulator:RenewalRetries"] = "2", ["Billing:Emulator:RenewalRetryWindowDays"] = "4" });
        var sub = await app.SubscribeAsync(TestCard.Visa);
        var paidFirst = await new InvoiceService(app.Stripe).GetAsync(sub.LatestInvoiceId);
        var paidUpdate = (await InvoiceEventsAsync(app, "invoice.updated", paidFirst.Id)).ShouldHaveSingleItem();
        Previous(paidUpdate)["status"]!.ToString().ShouldBe("open");
        Previous(paidUpdate).Value<long>("amount_paid").ShouldBe(0);
        Previous(paidUpdate).ContainsKey("currency").ShouldBeFalse();

        await app.ChangeCardInPortalAsync(sub.CustomerId, TestCard.VisaDeclinedAfterAttach);
        var firstAttempt = new DateTimeOffset(DateTime.SpecifyKind(sub.Items.Data[0].CurrentPeriodEnd, DateTimeKind.Utc)).AddHours(1);
        await app.Emulator.AdvanceClockAsync(firstAttempt.AddMinutes(1) - app.Emulator.Now);
        var renewal = (await new InvoiceService(app.Stripe).ListAsync(new InvoiceListOptions { Subscription = sub.Id })).Data.Single(i => i.BillingReason == "subscription_cycle");
        (await InvoiceEventsAsync(app, "invoice.payment_failed", renewal.Id)).Count.ShouldBe(1);
        var first = (await InvoiceEventsAsync(app, "invoice.updated", renewal.Id)).ShouldHaveSingleItem();
        ((Invoice)first.Data.Object).AttemptCount.ShouldBe(1);
        ((Invoice)first.Data.Object).NextPaymentAttempt.ShouldBe(firstAttempt.AddDays(2).UtcDateTime);
        Previous(first).Value<long>("attempt_count").ShouldBe(0);
        Previous(first).Value<bool>("attempted").ShouldBeFalse();
        Previous(first).ContainsKey("next_payment_attempt").ShouldBeTrue();
        Previous(first).ContainsKey("status").ShouldBeFalse();
        Previous(first).ContainsKey("amount_due").ShouldBeFalse();

        // The retries: each one failed attempt, each one invoice.payment_failed and one invoice.updated; the last has no next attempt.
        await app.Emulator.AdvanceClockAsync(TimeSpan.FromDays(5));
        (await InvoiceEventsAsync(app, "invoice.payment_failed", renewal.Id)).Count.ShouldBe(3);
        var updates = await InvoiceEventsAsync(app, "invoice.updated", renewal.Id);
        updates.Count.ShouldBe(3);
        var second = updates[1];
        Previous(second).Properties().Select(p => p.Name).Order().ShouldBe(["attempt_count", "next_payment_attempt"]);
        Previous(second).Value<long>("attempt_count").ShouldBe(1);
        Previous(second).Value<long>("next_payment_attempt").ShouldBe(firstAttempt.AddDays(2).ToUnixTimeSeconds());
        var last = updates[2];
        ((Invoice)last.Data.Object).AttemptCount.ShouldBe(3);
        ((Invoice)last.Data.Object).NextPaymentAttempt.ShouldBeNull();
        Previous(last).Value<long>("next_payment_attempt").ShouldBe(firstAttempt.AddDays(4).ToUnixTimeSeconds());
    }

    [Fact]
    public async Task ASubscriptionWhoseFirstInvoiceIsNotPaid_StaysIncomplete_ThenExpires23HoursLater_WithItsInvoiceVoided()
    {
        using var app = new EmulatorApp();
        var (customer, pm) = await app.CustomerWithCardAsync(TestCard.VisaDeclinedAfterAttach);
        var price = await app.PriceAsync(1900, "month");
        var subscriptions = new SubscriptionService(app.Stripe);
        var sub = await subscriptions.CreateAsync(new SubscriptionCreateOptions { Customer = customer.Id, DefaultPaymentMethod = pm, Items = [new() { Price = price.Id }] });
        sub.Status.ShouldBe("incomplete");
        var invoice = await new InvoiceService(app.Stripe).GetAsync(sub.LatestInvoiceId);
        invoice.Status.ShouldBe("open");
        var created = new DateTimeOffset(DateTime.SpecifyKind(sub.Created, DateTimeKind.Utc));

        await app.Emulator.AdvanceClockAsync(created.AddHours(23).AddMinutes(-2) - app.Emulator.Now);
        (await subscriptions.GetAsync(sub.Id)).Status.ShouldBe("incomplete");
        (await new InvoiceService(app.Stripe).GetAsync(invoice.Id)).Status.ShouldBe("open");

        await app.Emulator.AdvanceClockAsync(TimeSpan.FromMinutes(3));
        var expired = await subscriptions.GetAsync(sub.Id);
        expired.Status.ShouldBe("incomplete_expired");
        expired.EndedAt.ShouldBe(created.AddHours(23).UtcDateTime);
        var voided = await new InvoiceService(app.Stripe).GetAsync(invoice.Id);
        voided.Status.ShouldBe("void");
        voided.StatusTransitions.VoidedAt.ShouldBe(created.AddHours(23).UtcDateTime);
        voided.NextPaymentAttempt.ShouldBeNull();
        (await app.EventsAsync("invoice.voided")).Select(e => ((Invoice)e.Data.Object).Id).ShouldBe([invoice.Id]);
        var intent = (await new PaymentIntentService(app.Stripe).ListAsync(new PaymentIntentListOptions { Customer = customer.Id })).Data.ShouldHaveSingleItem();
        intent.Status.ShouldBe("canceled");
        intent.CancellationReason.ShouldBe("void_invoice");
        var update = (await app.EventsAsync("customer.subscription.updated")).Where(e => ((Subscription)e.Data.Object).Id == sub.Id).First();
        ((Subscription)update.Data.Object).Status.ShouldBe("incomplete_expired");
        Previous(update).Value<string>("status").ShouldBe("incomplete");
        (await app.EventsAsync("customer.subscription.deleted")).ShouldBeEmpty();

        // Terminal: nothing more is invoiced or attempted, and it cannot be changed back.
        await app.Emulator.AdvanceClockAsync(TimeSpan.FromDays(40));
        (await new InvoiceService(app.Stripe).ListAsync(new InvoiceListOptions { Subscription = sub.Id })).Data.Count.ShouldBe(1);
        (await subscriptions.GetAsync(sub.Id)).Status.ShouldBe("incomplete_expired");
        await Should.ThrowAsync<StripeException>(() => subscriptions.UpdateAsync(sub.Id, new SubscriptionUpdateOptions { CancelAtPeriodEnd = true }));
    }

    [Fact]
    public async Task OnlyAnUnpaidFirstInvoiceExpires_APaidOneOrADebitStillProcessingDoesNot()
    {
        using var app = new EmulatorApp();
        var price = await app.PriceAsync(1900, "month");
        var paid = await app.SubscribeAsync(TestCard.Visa);

        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions { Email = "3ds@example.com" });
        var card = await new PaymentMethodService(app.Stripe).AttachAsync("pm_card_authenticationRequired", new PaymentMethodAttachOptions { Customer = customer.Id });
        var waiting = await new SubscriptionService(app.Stripe).CreateAsync(new SubscriptionCreateOptions { Customer = customer.Id, DefaultPaymentMethod = card.Id, Items = [new() { Price = price.Id }] });
        waiting.Status.ShouldBe("incomplete");

        var session = await new Stripe.Checkout.SessionService(app.Stripe).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "subscription",
            CustomerEmail = "bank@example.com",
            AllowedPaymentMethodTypes = ["card", "us_bank_account"],
            LineItems = [new() { Price = price.Id, Quantity = 1 }],
            SuccessUrl = "https://app.example/billing/done",
        });
        (await app.Emulator.CompleteCheckoutWithBankAccountAsync(session.Id, "000000000009")).Completed.ShouldBeTrue();
        var processing = (await new Stripe.Checkout.SessionService(app.Stripe).GetAsync(session.Id)).SubscriptionId;
        (await new SubscriptionService(app.Stripe).GetAsync(processing)).Status.ShouldBe("incomplete");

        await app.Emulator.AdvanceClockAsync(TimeSpan.FromHours(24));
        (await new SubscriptionService(app.Stripe).GetAsync(paid.Id)).Status.ShouldBe("active");
        // Waiting for 3-D Secure is no payment: it expires like a decline. A debit the bank has not answered yet keeps it incomplete.
        (await new SubscriptionService(app.Stripe).GetAsync(waiting.Id)).Status.ShouldBe("incomplete_expired");
        (await new SubscriptionService(app.Stripe).GetAsync(processing)).Status.ShouldBe("incomplete");
    }

    [Fact]
    public async Task TheApp_FollowsAnExpiredIncompleteSubscription_AndGivesItNoPlan()
    {
        using var app = new BillingTestApp(new() { ["Billing:PaymentMethodTypes:0"] = "card", ["Billing:PaymentMethodTypes:1"] = "us_bank_account" });
        var (user, client) = await app.SignedInUserAsync();
        var checkoutUrl = await BillingTestApp.ChooseAsync(client, "subscription_unlimited");
        using (var browser = app.NewClient())
        {
            var path = new Uri(checkoutUrl).PathAndQuery;
            var page = await browser.GetStringAsync(path);
            var paid = await browser.PostAsync(path + "?handler=Bank", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["Input.AccountNumber"] = "000111111113",
                ["Input.Email"] = "",
                ["__RequestVerificationToken"] = Infrastructure.TestApp.AntiforgeryToken(page),
            }));
            paid.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "incomplete", "subscription incomplete");
        // The bank refuses the debit a few minutes later: the subscription stays incomplete, as at Stripe.
        await app.AdvanceClockAsync(0.01);
        var subscriptionId = await app.QueryAsync<string>("SELECT stripe_subscription_id FROM subscriptions WHERE user_id = @id", new { id = user.Id });
        (await new SubscriptionService(app.StripeClient).GetAsync(subscriptionId)).Status.ShouldBe("incomplete");

        await app.AdvanceClockAsync(1);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "incomplete_expired", "subscription expired");
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        (await client.GetStringAsync("/billing")).ShouldNotContain("payment pending");
    }

    [Fact]
    public async Task HostedCheckout_WhenTheCustomerFails3DSecure_LeavesTheSessionOpen_AndItsPaymentIntentFailedAuthentication()
    {
        using var app = new EmulatorApp();
        var price = await app.PriceAsync(1500);
        var sessions = new Stripe.Checkout.SessionService(app.Stripe);
        var session = await sessions.CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "payment",
            CustomerEmail = "threeds@example.com",
            LineItems = [new() { Price = price.Id, Quantity = 1 }],
            SuccessUrl = "https://app.example/billing/done?session={CHECKOUT_SESSION_ID}",
            CancelUrl = "https://app.example/billing",
        });
        using var browser = app.NewClient();
        var step = await Infrastructure.TestApp.PostFormAsync(browser, session.Url, new() { ["Input.CardNumber"] = TestCard.VisaAuthenticationAlways });
        (await step.Content.ReadAsStringAsync()).ShouldContain("three-d-secure-complete");
        (await sessions.GetAsync(session.Id)).PaymentIntentId.ShouldBeNull();

        var failed = await Infrastructure.TestApp.PostFormAsync(browser, session.Url, new() { ["Input.CardNumber"] = TestCard.VisaAuthenticationAlways, ["Input.Authentication"] = "fail" });
        failed.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await failed.Content.ReadAsStringAsync()).ShouldContain("We are unable to authenticate your payment method");

        var open = await sessions.GetAsync(session.Id);
        open.Status.ShouldBe("open");
        open.PaymentStatus.ShouldBe("unpaid");
        open.PaymentIntentId.ShouldStartWith("pi_");
        var intent = await new PaymentIntentService(app.Stripe).GetAsync(open.PaymentIntentId);
        intent.Status.ShouldBe("requires_payment_method");
        intent.Amount.ShouldBe(1500);
        intent.PaymentMethodId.ShouldBeNull();
        intent.LatestChargeId.ShouldBeNull();
        intent.LastPaymentError.Type.ShouldBe("invalid_request_error");
        intent.LastPaymentError.Code.ShouldBe("payment_intent_authentication_failure");
        intent.LastPaymentError.Message.ShouldBe("The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.");
        intent.LastPaymentError.PaymentMethod.Card.Last4.ShouldBe("3184");
        (await app.EventsAsync("payment_intent.requires_action")).Select(e => ((PaymentIntent)e.Data.Object).Id).ShouldBe([intent.Id]);
        (await app.EventsAsync("payment_intent.payment_failed")).Select(e => ((PaymentIntent)e.Data.Object).Id).ShouldBe([intent.Id]);
        (await app.EventsAsync("charge.failed")).ShouldBeEmpty();
        (await app.EventsAsync("checkout.session.completed")).ShouldBeEmpty();

        // The customer tries again on the same page and passes: the same PaymentIntent is paid and the session completes.
        var paid = await Infrastructure.TestApp.PostFormAsync(browser, session.Url, new() { ["Input.CardNumber"] = TestCard.VisaAuthenticationAlways, ["Input.Authentication"] = "complete" });
        paid.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var complete = await sessions.GetAsync(session.Id);
        complete.Status.ShouldBe("complete");
        complete.PaymentStatus.ShouldBe("paid");
        complete.PaymentIntentId.ShouldBe(intent.Id);
        var succeeded = await new PaymentIntentService(app.Stripe).GetAsync(intent.Id);
        succeeded.Status.ShouldBe("succeeded");
        succeeded.LastPaymentError.ShouldBeNull();
        (await app.EventsAsync("payment_intent.created")).Count(e => ((PaymentIntent)e.Data.Object).Amount == 1500).ShouldBe(1);
    }
}
