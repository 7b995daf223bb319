using System.Net;
using GenSaaS.StripeEmulator;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>Signed webhook delivery with retries and faults, and the emulator clock driving subscription periods.</summary>
public sealed class EmulatorWebhookAndClockTests
{
    private static async Task<(EmulatorApp App, WebhookReceiver Receiver)> StartAsync(string? faults = null)
    {
        var receiver = await WebhookReceiver.StartAsync();
        // A wide shuffle window keeps a burst of events in one buffer even on a busy machine.
        var settings = new Dictionary<string, string?> { ["Billing:Emulator:WebhookUrl"] = receiver.Url, ["Billing:Emulator:ShuffleWindowMilliseconds"] = "2500" };
        if (faults is not null) settings["Billing:Emulator:Faults"] = faults;
        return (new EmulatorApp(settings), receiver);
    }

    [Fact]
    public async Task Webhooks_AreSignedSoStripeNetConstructEventAccepts_AndRetriedAfter500()
    {
        var (app, receiver) = await StartAsync();
        await using var _ = receiver;
        using var __ = app;
        receiver.FailuresPerEvent = 1;
        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions { Email = "hook@example.com" });

        var received = await receiver.WaitForAsync(r => r.Count(x => x.Type == "customer.created" && x.Answer == HttpStatusCode.OK) == 1);
        var attempts = received.Where(r => r.Type == "customer.created").ToList();
        attempts.Count.ShouldBe(2);
        attempts[0].Answer.ShouldBe(HttpStatusCode.InternalServerError);
        attempts[1].EventId.ShouldBe(attempts[0].EventId);
        var evt = EventUtility.ConstructEvent(attempts[1].Json, attempts[1].Signature, app.Emulator.WebhookSecret);
        evt.Type.ShouldBe("customer.created");
        ((Customer)evt.Data.Object).Id.ShouldBe(customer.Id);
        evt.ApiVersion.ShouldBe(StripeConfiguration.ApiVersion);
        Should.Throw<StripeException>(() => EventUtility.ConstructEvent(attempts[1].Json, attempts[1].Signature, "whsec_" + "wrong"));
    }

    [Fact]
    public async Task DuplicateFault_DeliversEveryEventTwice()
    {
        var (app, receiver) = await StartAsync("Duplicate");
        await using var _ = receiver;
        using var __ = app;
        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions());
        var received = await receiver.WaitForAsync(r => r.Count(x => x.Type == "customer.created") == 2);
        received.Where(x => x.Type == "customer.created").Select(x => x.EventId).Distinct().Count().ShouldBe(1);
        received.First(x => x.Type == "customer.created").ObjectId.ShouldBe(customer.Id);
    }

    [Fact]
    public async Task WithoutWebhookUrl_EventsGoToTheAppsOwnWebhookRoute()
    {
        using var app = new EmulatorApp();
        await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions());
        var deadline = DateTime.UtcNow.AddSeconds(20);
        (string? Url, long? Status) attempt = default;
        while (DateTime.UtcNow < deadline && attempt.Status is null)
        {
            await using var connection = await app.Emulator.Store.OpenAsync();
            attempt = await Dapper.SqlMapper.QueryFirstOrDefaultAsync<(string?, long?)>(connection,
                "SELECT last_url, last_status FROM deliveries WHERE attempts > 0 ORDER BY id LIMIT 1;");
            await Task.Delay(100);
        }
        attempt.Status.ShouldNotBeNull("the app answered the delivery");
        attempt.Url.ShouldBe(app.BaseAddress.ToString().TrimEnd('/') + "/api/billing/webhook");
    }

    [Fact]
    public async Task DelayFault_DeliversLate()
    {
        var receiver = await WebhookReceiver.StartAsync();
        await using var _ = receiver;
        using var app = new EmulatorApp(new() { ["Billing:Emulator:WebhookUrl"] = receiver.Url, ["Billing:Emulator:Faults"] = "Delay", ["Billing:Emulator:FaultDelaySeconds"] = "2" });
        var started = DateTime.UtcNow;
        await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions());
        await receiver.WaitForAsync(r => r.Any(x => x.Type == "customer.created"));
        (DateTime.UtcNow - started).ShouldBeGreaterThan(TimeSpan.FromSeconds(1.9));
    }

    [Fact]
    public async Task ShuffleFault_SetFromDevControl_DeliversAllOutOfOrder()
    {
        var (app, receiver) = await StartAsync();
        await using var _ = receiver;
        using var __ = app;
        using var dev = app.NewClient();
        (await dev.PostAsync("/emulator/dev/faults?set=Shuffle", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
            ids.Add((await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions())).Id);
        var received = await receiver.WaitForAsync(r => r.Count(x => x.Type == "customer.created") == 5);
        var order = received.Where(x => x.Type == "customer.created").Select(x => x.ObjectId).ToList();
        order.ShouldBe(ids, ignoreOrder: true);
        order.ShouldNotBe(ids);
    }

    [Fact]
    public async Task Clock_AdvancingPastPeriodEnd_RenewsWithPaidInvoiceAndNewPeriod()
    {
        using var app = new EmulatorApp();
        var sub = await app.SubscribeAsync(TestCard.Visa);
        var firstEnd = sub.Items.Data[0].CurrentPeriodEnd;
        await app.AdvanceDaysAsync(32);
        var renewed = await new SubscriptionService(app.Stripe).GetAsync(sub.Id);
        renewed.Status.ShouldBe("active");
        renewed.Items.Data[0].CurrentPeriodStart.ShouldBe(firstEnd);
        renewed.Items.Data[0].CurrentPeriodEnd.ShouldBeGreaterThan(firstEnd.AddDays(27));
        var invoices = (await new InvoiceService(app.Stripe).ListAsync(new InvoiceListOptions { Subscription = sub.Id })).Data;
        invoices.Count.ShouldBe(2);
        invoices.ShouldAllBe(i => i.Status == "paid");
        invoices[0].BillingReason.ShouldBe("subscription_cycle");
        (await app.EventsAsync("invoice.paid")).Count(e => ((Invoice)e.Data.Object).Parent.SubscriptionDetails.SubscriptionId == sub.Id).ShouldBe(2);
        (await app.EventsAsync("customer.subscription.updated")).ShouldContain(e => ((Subscription)e.Data.Object).Id == sub.Id);
    }

    [Fact]
    public async Task Clock_RenewalOn0341Card_FailsToPastDueWithPaymentFailedInvoice()
    {
        using var app = new EmulatorApp();
        var sub = await app.SubscribeAsync(TestCard.Visa);
        await app.ChangeCardInPortalAsync(sub.CustomerId, TestCard.VisaDeclinedAfterAttach);
        sub.Status.ShouldBe("active");
        await app.AdvanceDaysAsync(32);
        (await new SubscriptionService(app.Stripe).GetAsync(sub.Id)).Status.ShouldBe("past_due");
        // Stripe retries the one renewal invoice every few days: how many failures 32 days show depends on the month's length.
        var failures = (await app.EventsAsync("invoice.payment_failed")).Select(e => (Invoice)e.Data.Object)
            .Where(i => i.Parent.SubscriptionDetails.SubscriptionId == sub.Id).ToList();
        failures.Select(i => i.Id).Distinct().Count().ShouldBe(1);
        var failed = failures[0];
        failed.Status.ShouldBe("open");
        failed.AmountPaid.ShouldBe(0);
        (await app.EventsAsync("customer.subscription.updated")).ShouldContain(e => ((Subscription)e.Data.Object).Id == sub.Id && ((Subscription)e.Data.Object).Status == "past_due");
    }

    [Fact]
    public async Task PastDue_NewCardInPortal_PaysTheOpenInvoiceAndReactivates()
    {
        using var app = new EmulatorApp();
        var sub = await app.SubscribeAsync(TestCard.Visa);
        await app.ChangeCardInPortalAsync(sub.CustomerId, TestCard.VisaDeclinedAfterAttach);
        await app.AdvanceDaysAsync(32);
        var pastDue = await new SubscriptionService(app.Stripe).GetAsync(sub.Id, new SubscriptionGetOptions { Expand = ["latest_invoice"] });
        pastDue.Status.ShouldBe("past_due");
        var failedAttempts = pastDue.LatestInvoice.AttemptCount; // one, or more in a short month: Stripe retries every few days
        var portal = await app.PortalSessionAsync(sub.CustomerId);
        using var browser = app.NewClient();
        var response = await Infrastructure.TestApp.PostFormAsync(browser, portal.Url + "?handler=Card", new() { ["Input.CardNumber"] = TestCard.Visa });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var reactivated = await new SubscriptionService(app.Stripe).GetAsync(sub.Id, new SubscriptionGetOptions { Expand = ["latest_invoice"] });
        reactivated.Status.ShouldBe("active");
        reactivated.LatestInvoice.Status.ShouldBe("paid");
        reactivated.LatestInvoice.Id.ShouldBe(pastDue.LatestInvoice.Id);
        reactivated.LatestInvoice.AttemptCount.ShouldBe(failedAttempts + 1);
    }

    [Fact]
    public async Task Clock_CancelAtPeriodEnd_EndsTheSubscriptionWithDeletedEvent()
    {
        using var app = new EmulatorApp();
        var sub = await app.SubscribeAsync(TestCard.Visa);
        await new SubscriptionService(app.Stripe).UpdateAsync(sub.Id, new SubscriptionUpdateOptions { CancelAtPeriodEnd = true });
        await app.AdvanceDaysAsync(10);
        (await new SubscriptionService(app.Stripe).GetAsync(sub.Id)).Status.ShouldBe("active");
        await app.AdvanceDaysAsync(25);
        (await new SubscriptionService(app.Stripe).GetAsync(sub.Id)).Status.ShouldBe("canceled");
        (await app.EventsAsync("customer.subscription.deleted")).ShouldContain(e => ((Subscription)e.Data.Object).Id == sub.Id);
        (await new InvoiceService(app.Stripe).ListAsync(new InvoiceListOptions { Subscription = sub.Id })).Data.Count.ShouldBe(1);
    }
}
