using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using GenSaaS.StripeEmulator;
using Stripe;
using Stripe.Checkout;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>Stripe.net, over HTTP, against the emulator in the running app.</summary>
public sealed class EmulatorApiTests(EmulatorApp app) : IClassFixture<EmulatorApp>
{
    [Fact]
    public async Task Customer_CreateUpdateRetrieve_ComesBackTyped()
    {
        var customers = new CustomerService(app.Stripe);
        var created = await customers.CreateAsync(new CustomerCreateOptions { Email = "ada@example.com", Metadata = new() { ["user_id"] = "u1" } });
        created.Id.ShouldStartWith("cus_");
        var updated = await customers.UpdateAsync(created.Id, new CustomerUpdateOptions { Name = "Ada", Metadata = new() { ["plan"] = "bundle_10" } });
        var fetched = await customers.GetAsync(created.Id);
        fetched.Email.ShouldBe("ada@example.com");
        fetched.Name.ShouldBe("Ada");
        fetched.Metadata.ShouldBe(new Dictionary<string, string> { ["user_id"] = "u1", ["plan"] = "bundle_10" });
        updated.Name.ShouldBe("Ada");
    }

    [Fact]
    public async Task MissingObject_Is404ResourceMissing_AsStripeException()
    {
        var ex = await Should.ThrowAsync<StripeException>(() => new CustomerService(app.Stripe).GetAsync("cus_doesnotexist"));
        ex.HttpStatusCode.ShouldBe(HttpStatusCode.NotFound);
        ex.StripeError.Code.ShouldBe("resource_missing");
        ex.StripeError.Type.ShouldBe("invalid_request_error");
    }

    [Fact]
    public async Task WrongOrMissingKey_Is401()
    {
        var ex = await Should.ThrowAsync<StripeException>(() =>
            new CustomerService(new StripeClient("sk_live_nope", apiBase: app.BaseAddress.ToString().TrimEnd('/') + "/emulator/stripe")).GetAsync("cus_x"));
        ex.HttpStatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        using var client = app.NewClient();
        (await client.GetAsync("/emulator/stripe/v1/customers")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Prices_ListByLookupKey_FindsTheRecurringPrice()
    {
        var key = "subscription_unlimited_" + Guid.NewGuid().ToString("N")[..8];
        var created = await app.PriceAsync(1900, "month", key);
        await app.PriceAsync(400, lookupKey: "bundle_" + Guid.NewGuid().ToString("N")[..8]);
        var found = await new PriceService(app.Stripe).ListAsync(new PriceListOptions { LookupKeys = [key] });
        found.Data.Count.ShouldBe(1);
        found.Data[0].Id.ShouldBe(created.Id);
        found.Data[0].UnitAmount.ShouldBe(1900);
        found.Data[0].Recurring.Interval.ShouldBe("month");
        found.Data[0].Type.ShouldBe("recurring");
        var duplicate = await Should.ThrowAsync<StripeException>(() => app.PriceAsync(1900, "month", key));
        duplicate.StripeError.Param.ShouldBe("lookup_key");
    }

    [Fact]
    public async Task PaymentIntent_ManualCaptureOffSession_AuthorisesThenCaptures()
    {
        var (customer, pm) = await app.CustomerWithCardAsync(TestCard.Visa);
        var intents = new PaymentIntentService(app.Stripe);
        var pi = await intents.CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = 50, Currency = "usd", Customer = customer.Id, PaymentMethod = pm,
            CaptureMethod = "manual", Confirm = true, OffSession = true, AllowedPaymentMethodTypes = ["card"], Metadata = new() { ["usage_id"] = "u-1" },
        }, new RequestOptions { IdempotencyKey = "auth:u-1" });
        pi.Status.ShouldBe("requires_capture");
        pi.AmountCapturable.ShouldBe(50);
        var charge = await new ChargeService(app.Stripe).GetAsync(pi.LatestChargeId);
        charge.Captured.ShouldBeFalse();
        charge.PaymentIntentId.ShouldBe(pi.Id);
        charge.PaymentMethodDetails.Card.CaptureBefore.ShouldBeGreaterThan(DateTime.UtcNow.AddDays(4));

        var captured = await intents.CaptureAsync(pi.Id, new PaymentIntentCaptureOptions(), new RequestOptions { IdempotencyKey = "capture:u-1" });
        captured.Status.ShouldBe("succeeded");
        captured.AmountReceived.ShouldBe(50);
        (await new ChargeService(app.Stripe).GetAsync(pi.LatestChargeId)).Captured.ShouldBeTrue();
        (await app.EventsAsync("charge.captured")).ShouldContain(e => ((Charge)e.Data.Object).Id == pi.LatestChargeId);

        var replay = await intents.CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = 50, Currency = "usd", Customer = customer.Id, PaymentMethod = pm,
            CaptureMethod = "manual", Confirm = true, OffSession = true, AllowedPaymentMethodTypes = ["card"], Metadata = new() { ["usage_id"] = "u-1" },
        }, new RequestOptions { IdempotencyKey = "auth:u-1" });
        replay.Id.ShouldBe(pi.Id);
        var mismatch = await Should.ThrowAsync<StripeException>(() => intents.CreateAsync(
            new PaymentIntentCreateOptions { Amount = 99, Currency = "usd" }, new RequestOptions { IdempotencyKey = "auth:u-1" }));
        mismatch.StripeError.Type.ShouldBe("idempotency_error");
    }

    [Fact]
    public async Task PaymentIntent_Cancel_ReleasesTheAuthorisation()
    {
        var (customer, pm) = await app.CustomerWithCardAsync(TestCard.Visa);
        var intents = new PaymentIntentService(app.Stripe);
        var pi = await intents.CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = 75, Currency = "usd", Customer = customer.Id, PaymentMethod = pm, CaptureMethod = "manual", Confirm = true, OffSession = true, AllowedPaymentMethodTypes = ["card"],
        });
        var canceled = await intents.CancelAsync(pi.Id, new PaymentIntentCancelOptions { CancellationReason = "abandoned" });
        canceled.Status.ShouldBe("canceled");
        canceled.CancellationReason.ShouldBe("abandoned");
        (await app.EventsAsync("payment_intent.canceled")).ShouldContain(e => ((PaymentIntent)e.Data.Object).Id == pi.Id);
        var again = await Should.ThrowAsync<StripeException>(() => intents.CaptureAsync(pi.Id));
        again.StripeError.Code.ShouldBe("payment_intent_unexpected_state");
    }

    [Fact]
    public async Task PaymentIntent_OffSessionOn0341_SavedFine_IsDeclined()
    {
        var (customer, pm) = await app.CustomerWithCardAsync(TestCard.VisaDeclinedAfterAttach);
        var ex = await Should.ThrowAsync<StripeException>(() => new PaymentIntentService(app.Stripe).CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = 50, Currency = "usd", Customer = customer.Id, PaymentMethod = pm, CaptureMethod = "manual", Confirm = true, OffSession = true, AllowedPaymentMethodTypes = ["card"],
        }));
        ex.HttpStatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        ex.StripeError.Type.ShouldBe("card_error");
        ex.StripeError.Code.ShouldBe("card_declined");
        ex.StripeError.DeclineCode.ShouldBe("generic_decline");
        ex.StripeError.Message.ShouldBe("Your card was declined.");
        ex.StripeError.PaymentIntent.Status.ShouldBe("requires_payment_method");
        (await app.EventsAsync("payment_intent.payment_failed")).ShouldContain(e => ((PaymentIntent)e.Data.Object).Id == ex.StripeError.PaymentIntent.Id);
    }

    [Fact]
    public async Task Refund_PartialThenRest_MarksTheChargeRefunded()
    {
        var price = await app.PriceAsync(900);
        var session = await new SessionService(app.Stripe).CreateAsync(new SessionCreateOptions
        {
            Mode = "payment", LineItems = [new() { Price = price.Id, Quantity = 1 }],
            SuccessUrl = "https://app.example/ok", CancelUrl = "https://app.example/no",
        });
        (await app.PayOnHostedPageAsync(session.Url, TestCard.Visa)).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        session = await new SessionService(app.Stripe).GetAsync(session.Id);
        var refunds = new RefundService(app.Stripe);
        var partial = await refunds.CreateAsync(new RefundCreateOptions { PaymentIntent = session.PaymentIntentId, Amount = 300 });
        partial.Amount.ShouldBe(300);
        partial.Status.ShouldBe("succeeded");
        var charge = await new ChargeService(app.Stripe).GetAsync(partial.ChargeId);
        charge.AmountRefunded.ShouldBe(300);
        charge.Refunded.ShouldBeFalse();
        await refunds.CreateAsync(new RefundCreateOptions { Charge = charge.Id });
        charge = await new ChargeService(app.Stripe).GetAsync(charge.Id);
        charge.AmountRefunded.ShouldBe(900);
        charge.Refunded.ShouldBeTrue();
        var tooMuch = await Should.ThrowAsync<StripeException>(() => refunds.CreateAsync(new RefundCreateOptions { Charge = charge.Id, Amount = 1 }));
        tooMuch.StripeError.Code.ShouldBe("charge_already_refunded");
        (await app.EventsAsync("charge.refunded")).Count(e => ((Charge)e.Data.Object).Id == charge.Id).ShouldBe(2);
    }

    [Fact]
    public async Task PaymentCheckout_HostedPagePaid_RedirectsWithSessionIdAndEmitsEvents()
    {
        var price = await app.PriceAsync(400);
        var session = await new SessionService(app.Stripe).CreateAsync(new SessionCreateOptions
        {
            Mode = "payment", ClientReferenceId = "user-7", Metadata = new() { ["plan"] = "bundle_10" },
            LineItems = [new() { Price = price.Id, Quantity = 1 }],
            SuccessUrl = "https://app.example/billing/done?session={CHECKOUT_SESSION_ID}", CancelUrl = "https://app.example/billing",
        });
        session.Url.ShouldStartWith(app.BaseAddress.ToString().TrimEnd('/') + "/emulator/checkout/cs_test_");
        session.AmountTotal.ShouldBe(400);

        using var browser = app.NewClient();
        var page = await browser.GetStringAsync(session.Url);
        page.ShouldContain("4.00 USD");
        page.ShouldContain("<label for=\"Input_CardNumber\">Card number</label>");
        page.ShouldContain("https://app.example/billing");
        var response = await app.PayOnHostedPageAsync(session.Url, "4242 4242 4242 4242");
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().ShouldBe($"https://app.example/billing/done?session={session.Id}");

        session = await new SessionService(app.Stripe).GetAsync(session.Id, new SessionGetOptions { Expand = ["payment_intent", "line_items"] });
        session.Status.ShouldBe("complete");
        session.PaymentStatus.ShouldBe("paid");
        session.ClientReferenceId.ShouldBe("user-7");
        session.PaymentIntent.Status.ShouldBe("succeeded");
        session.LineItems.Data.Single().Price.Id.ShouldBe(price.Id);
        (await app.EventsAsync("checkout.session.completed")).ShouldContain(e => ((Session)e.Data.Object).Id == session.Id);
        (await app.EventsAsync("payment_intent.succeeded")).ShouldContain(e => ((PaymentIntent)e.Data.Object).Id == session.PaymentIntentId);
        (await app.EventsAsync("charge.succeeded")).ShouldContain(e => ((Charge)e.Data.Object).PaymentIntentId == session.PaymentIntentId);
    }

    [Fact]
    public async Task HostedCheckout_DeclinedCard_ShowsTheMessageAndCompletesNothing()
    {
        var price = await app.PriceAsync(400);
        var session = await new SessionService(app.Stripe).CreateAsync(new SessionCreateOptions
        {
            Mode = "payment", LineItems = [new() { Price = price.Id, Quantity = 1 }],
            SuccessUrl = "https://app.example/ok", CancelUrl = "https://app.example/no",
        });
        var response = await app.PayOnHostedPageAsync(session.Url, "4000 0000 0000 0002");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldContain("Your card was declined.");
        session = await new SessionService(app.Stripe).GetAsync(session.Id);
        session.Status.ShouldBe("open");
        session.PaymentIntentId.ShouldBeNull();
        (await app.EventsAsync("checkout.session.completed")).ShouldNotContain(e => ((Session)e.Data.Object).Id == session.Id);
    }

    [Fact]
    public async Task SubscriptionCheckout_CreatesCustomerActiveSubscriptionAndPaidInvoice()
    {
        var sub = await app.SubscribeAsync(TestCard.Visa);
        sub.Status.ShouldBe("active");
        sub.Items.Data[0].Price.UnitAmount.ShouldBe(1900);
        sub.Items.Data[0].CurrentPeriodEnd.ShouldBeGreaterThan(sub.Items.Data[0].CurrentPeriodStart.AddDays(27));
        var invoices = await new InvoiceService(app.Stripe).ListAsync(new InvoiceListOptions { Subscription = sub.Id });
        var invoice = invoices.Data.Single();
        invoice.Status.ShouldBe("paid");
        invoice.AmountPaid.ShouldBe(1900);
        invoice.Parent.SubscriptionDetails.SubscriptionId.ShouldBe(sub.Id);
        invoice.BillingReason.ShouldBe("subscription_create");
        (await app.EventsAsync("customer.subscription.created")).ShouldContain(e => ((Subscription)e.Data.Object).Id == sub.Id);
        (await app.EventsAsync("invoice.paid")).ShouldContain(e => ((Invoice)e.Data.Object).Id == invoice.Id);
    }

    [Fact]
    public async Task SetupCheckout_SavesTheCardOnTheCustomer()
    {
        var (customer, pmId) = await app.CustomerWithCardAsync(TestCard.Visa);
        customer.InvoiceSettings.DefaultPaymentMethodId.ShouldBe(pmId);
        var pm = await new PaymentMethodService(app.Stripe).GetAsync(pmId);
        pm.Card.Brand.ShouldBe("visa");
        pm.Card.Last4.ShouldBe("4242");
        pm.Card.ExpYear.ShouldBeGreaterThan(DateTime.UtcNow.Year);
        pm.CustomerId.ShouldBe(customer.Id);
        (await new PaymentMethodService(app.Stripe).ListAsync(new PaymentMethodListOptions { Customer = customer.Id, Type = "card" })).Data.Single().Id.ShouldBe(pmId);
        (await app.EventsAsync("setup_intent.succeeded")).ShouldContain(e => ((SetupIntent)e.Data.Object).PaymentMethodId == pmId);
        (await app.EventsAsync("payment_method.attached")).ShouldContain(e => ((PaymentMethod)e.Data.Object).Id == pmId);
    }

    [Fact]
    public async Task Subscription_CancelAtPeriodEnd_IsKeptUntilThePeriodEnds()
    {
        var sub = await app.SubscribeAsync(TestCard.Visa);
        var updated = await new SubscriptionService(app.Stripe).UpdateAsync(sub.Id, new SubscriptionUpdateOptions { CancelAtPeriodEnd = true });
        updated.CancelAtPeriodEnd.ShouldBeTrue();
        updated.Status.ShouldBe("active");
        var evt = (await app.EventsAsync("customer.subscription.updated")).First(e => ((Subscription)e.Data.Object).Id == sub.Id);
        ((string)evt.Data.PreviousAttributes.ToString()).ShouldContain("cancel_at_period_end");
    }

    [Fact]
    public async Task PreviousAttributes_AreOnUpdatedEventsOnly_WithOnlyTheFieldsThatChanged()
    {
        var sub = await app.SubscribeAsync(TestCard.Visa);
        await new SubscriptionService(app.Stripe).UpdateAsync(sub.Id, new SubscriptionUpdateOptions { CancelAtPeriodEnd = true });
        var updated = (await app.EventsAsync("customer.subscription.updated")).First(e => ((Subscription)e.Data.Object).Id == sub.Id);
        using (JsonDocument previous = JsonDocument.Parse((string)updated.Data.PreviousAttributes.ToString()))
        {
            previous.RootElement.GetProperty("cancel_at_period_end").GetBoolean().ShouldBeFalse();
            previous.RootElement.TryGetProperty("status", out _).ShouldBeFalse();
            previous.RootElement.TryGetProperty("customer", out _).ShouldBeFalse();
        }

        // Events that are not *.updated carry none, even when the emulator knew the object before (an invoice paid).
        var paid = (await app.EventsAsync("invoice.paid")).First(e => ((Invoice)e.Data.Object).CustomerId == sub.CustomerId);
        ((object?)paid.Data.PreviousAttributes).ShouldBeNull();
    }

    [Fact]
    public async Task PortalSession_PointsAtTheHostedPortal_WhichCancelsAtPeriodEnd()
    {
        var sub = await app.SubscribeAsync(TestCard.Visa);
        var portal = await app.PortalSessionAsync(sub.CustomerId, "https://app.example/account");
        portal.Id.ShouldStartWith("bps_");
        portal.Url.ShouldEndWith("/emulator/portal/" + portal.Id);
        using var browser = app.NewClient();
        var page = await browser.GetStringAsync(portal.Url);
        page.ShouldContain("visa ending in 4242");
        page.ShouldContain("https://app.example/account");
        var response = await Infrastructure.TestApp.PostFormAsync(browser, portal.Url + "?handler=Cancel", new() { ["subscriptionId"] = sub.Id });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await new SubscriptionService(app.Stripe).GetAsync(sub.Id)).CancelAtPeriodEnd.ShouldBeTrue();

        response = await Infrastructure.TestApp.PostFormAsync(browser, portal.Url + "?handler=Card", new() { ["Input.CardNumber"] = TestCard.VisaDeclinedAfterAttach });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var customer = await new CustomerService(app.Stripe).GetAsync(sub.CustomerId, new CustomerGetOptions { Expand = ["invoice_settings.default_payment_method"] });
        customer.InvoiceSettings.DefaultPaymentMethod.Card.Last4.ShouldBe("0341");
    }

    [Fact]
    public async Task FormEncodedNestedParams_AreReadAsStripeSendsThem()
    {
        using var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.Emulator.SecretKey);
        var response = await client.PostAsync("/emulator/stripe/v1/customers", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["email"] = "raw@example.com", ["metadata[a]"] = "1", ["metadata[b]"] = "2", ["expand[]"] = "invoice_settings.default_payment_method",
        }));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        json.GetProperty("metadata").GetProperty("b").GetString().ShouldBe("2");
        json.GetProperty("object").GetString().ShouldBe("customer");
    }
}
