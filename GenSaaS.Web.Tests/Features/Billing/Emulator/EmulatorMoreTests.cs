using System.Net;
using GenSaaS.StripeEmulator;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

public sealed class EmulatorMoreTests(EmulatorApp app) : IClassFixture<EmulatorApp>
{
    [Fact]
    public async Task Events_ListByTypeAndCreatedGte_ReturnsOnlyThoseEvents()
    {
        var since = app.Emulator.Now.ToUnixTimeSeconds();
        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions { Email = "events@example.com" });
        var events = await new EventService(app.Stripe).ListAsync(new EventListOptions
        {
            Type = "customer.created",
            Created = new DateRangeOptions { GreaterThanOrEqual = DateTimeOffset.FromUnixTimeSeconds(since).UtcDateTime },
        });
        events.Data.ShouldAllBe(e => e.Type == "customer.created");
        events.Data.ShouldContain(e => ((Customer)e.Data.Object).Id == customer.Id);
        var later = await new EventService(app.Stripe).ListAsync(new EventListOptions
        {
            Created = new DateRangeOptions { GreaterThan = app.Emulator.Now.UtcDateTime.AddHours(1) },
        });
        later.Data.ShouldBeEmpty();
        var one = await new EventService(app.Stripe).GetAsync(events.Data[0].Id);
        one.Id.ShouldBe(events.Data[0].Id);
        one.ApiVersion.ShouldBe(StripeConfiguration.ApiVersion);
    }

    [Fact]
    public async Task Subscription_CancelNow_EndsItWithDeletedEvent()
    {
        var sub = await app.SubscribeAsync(TestCard.Visa);
        var canceled = await new SubscriptionService(app.Stripe).CancelAsync(sub.Id);
        canceled.Status.ShouldBe("canceled");
        canceled.EndedAt.ShouldNotBeNull();
        (await app.EventsAsync("customer.subscription.deleted")).ShouldContain(e => ((Subscription)e.Data.Object).Id == sub.Id);
        (await new SubscriptionService(app.Stripe).ListAsync(new SubscriptionListOptions { Customer = sub.CustomerId })).Data.ShouldBeEmpty();
    }

    [Fact]
    public async Task DevPage_ShowsTheClockAndFaultControls()
    {
        using var browser = app.NewClient();
        var page = await browser.GetStringAsync("/emulator/dev");
        page.ShouldContain("data-testid=\"emulator-clock\"");
        page.ShouldContain("Duplicate every event");
        var response = await Infrastructure.TestApp.PostFormAsync(browser, "/emulator/dev?handler=Advance", new() { ["days"] = "1" });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        app.Emulator.Now.ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddHours(23));
    }

    [Fact]
    public async Task SetupCheckout_PageOffersSaveCardButNamedPay()
    {
        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions());
        var session = await new Stripe.Checkout.SessionService(app.Stripe).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "setup", Customer = customer.Id, Currency = "usd", SuccessUrl = "https://app.example/ok", CancelUrl = "https://app.example/no",
        });
        session.SetupIntentId.ShouldStartWith("seti_");
        using var browser = app.NewClient();
        var page = await browser.GetStringAsync(session.Url);
        page.ShouldContain("aria-label=\"Pay\"");
        page.ShouldContain("Save card");
    }

    [Fact]
    public async Task Price_TransferLookupKey_MovesTheKeyToTheNewPrice()
    {
        var key = "bundle_25_" + Guid.NewGuid().ToString("N")[..8];
        var old = await app.PriceAsync(900, lookupKey: key);
        var replacement = await new PriceService(app.Stripe).CreateAsync(new PriceCreateOptions
        {
            Currency = "usd", UnitAmount = 1000, Product = old.ProductId, LookupKey = key, TransferLookupKey = true,
        });
        (await new PriceService(app.Stripe).GetAsync(old.Id)).LookupKey.ShouldBeNull();
        (await new PriceService(app.Stripe).ListAsync(new PriceListOptions { LookupKeys = [key] })).Data.Single().Id.ShouldBe(replacement.Id);
        var retired = await new PriceService(app.Stripe).UpdateAsync(old.Id, new PriceUpdateOptions { Active = false });
        retired.Active.ShouldBeFalse();
    }

    [Fact]
    public async Task SubscriptionCreatedThroughTheApi_ChargesTheCustomersDefaultCard()
    {
        var (customer, _) = await app.CustomerWithCardAsync(TestCard.Visa);
        var price = await app.PriceAsync(1900, "month");
        var sub = await new SubscriptionService(app.Stripe).CreateAsync(new SubscriptionCreateOptions
        {
            Customer = customer.Id, Items = [new SubscriptionItemOptions { Price = price.Id }], Expand = ["latest_invoice"],
        });
        sub.Status.ShouldBe("active");
        sub.LatestInvoice.Status.ShouldBe("paid");
        sub.LatestInvoice.AmountPaid.ShouldBe(1900);
    }

    [Fact]
    public async Task ConcurrentRequestsWithOneIdempotencyKey_AuthoriseOnce()
    {
        var (customer, pm) = await app.CustomerWithCardAsync(TestCard.Visa);
        var options = new PaymentIntentCreateOptions
        {
            Amount = 60, Currency = "usd", Customer = customer.Id, PaymentMethod = pm, CaptureMethod = "manual", Confirm = true, OffSession = true, AllowedPaymentMethodTypes = ["card"],
        };
        var key = "auth:" + Guid.NewGuid();
        var intents = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ =>
            new PaymentIntentService(app.Stripe).CreateAsync(options, new RequestOptions { IdempotencyKey = key })));
        intents.Select(i => i.Id).Distinct().Count().ShouldBe(1);
        (await new PaymentIntentService(app.Stripe).ListAsync(new PaymentIntentListOptions { Customer = customer.Id })).Data.Count.ShouldBe(1);
    }

    [Fact]
    public async Task PaymentModeWithSubscriptionPrice_IsRejectedLikeStripe()
    {
        var monthly = await app.PriceAsync(1900, "month");
        var ex = await Should.ThrowAsync<StripeException>(() => new Stripe.Checkout.SessionService(app.Stripe).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "payment", LineItems = [new() { Price = monthly.Id, Quantity = 1 }], SuccessUrl = "https://app.example/ok",
        }));
        ex.HttpStatusCode.ShouldBe(HttpStatusCode.BadRequest);
        ex.StripeError.Type.ShouldBe("invalid_request_error");
    }
}
