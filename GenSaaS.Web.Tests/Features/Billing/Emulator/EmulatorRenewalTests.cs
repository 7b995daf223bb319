using GenSaaS.StripeEmulator;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>
/// Renewals as Stripe runs them, driven by the emulator's clock: a draft invoice at the period end, finalized and charged
/// about an hour later; a failed charge makes the subscription past_due and is retried on a Smart-Retries-like schedule;
/// when the retries are used up the subscription is canceled, marked unpaid or left past_due as the account says.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class EmulatorRenewalTests
{
    private static async Task AdvanceToAsync(EmulatorApp app, DateTimeOffset when)
    {
        var by = when - app.Emulator.Now;
        if (by > TimeSpan.Zero)
            await app.Emulator.AdvanceClockAsync(by);
    }

    private static DateTimeOffset PeriodEnd(Subscription sub) => new(DateTime.SpecifyKind(sub.Items.Data[0].CurrentPeriodEnd, DateTimeKind.Utc));

    private static async Task<List<Invoice>> InvoicesAsync(EmulatorApp app, string subscriptionId) =>
        (await new InvoiceService(app.Stripe).ListAsync(new InvoiceListOptions { Subscription = subscriptionId })).Data;

    private static async Task<List<Event>> EventsForAsync(EmulatorApp app, string type, string invoiceId) =>
        (await app.EventsAsync(type)).Where(e => ((Invoice)e.Data.Object).Id == invoiceId).ToList();

    [Fact]
    public async Task Renewal_InvoiceIsADraftForAboutAnHour_ThenFinalizedAndPaid()
    {
        using var app = new EmulatorApp();
        var sub = await app.SubscribeAsync(TestCard.Visa);
        var end = PeriodEnd(sub);

        await AdvanceToAsync(app, end.AddMinutes(30));
        var renewal = (await InvoicesAsync(app, sub.Id)).Single(i => i.BillingReason == "subscription_cycle");
        renewal.Status.ShouldBe("draft");
        renewal.AutomaticallyFinalizesAt.ShouldBe(end.AddHours(1).UtcDateTime);
        (await EventsForAsync(app, "invoice.created", renewal.Id)).Count.ShouldBe(1);
        (await EventsForAsync(app, "invoice.finalized", renewal.Id)).ShouldBeEmpty();
        (await EventsForAsync(app, "invoice.paid", renewal.Id)).ShouldBeEmpty();
        var renewed = await new SubscriptionService(app.Stripe).GetAsync(sub.Id);
        renewed.Status.ShouldBe("active");
        renewed.LatestInvoiceId.ShouldBe(renewal.Id);
        renewed.Items.Data[0].CurrentPeriodStart.ShouldBe(end.UtcDateTime);

        await AdvanceToAsync(app, end.AddMinutes(61));
        renewal = await new InvoiceService(app.Stripe).GetAsync(renewal.Id);
        renewal.Status.ShouldBe("paid");
        renewal.AttemptCount.ShouldBe(1);
        renewal.StatusTransitions.FinalizedAt.ShouldBe(end.AddHours(1).UtcDateTime);
        (await EventsForAsync(app, "invoice.finalized", renewal.Id)).Count.ShouldBe(1);
        (await EventsForAsync(app, "invoice.paid", renewal.Id)).Count.ShouldBe(1);
        (await new SubscriptionService(app.Stripe).GetAsync(sub.Id)).Status.ShouldBe("active");
    }

    [Fact]
    public async Task FailedRenewal_GoesPastDue_RetriesEightTimesInTwoWeeks_ThenCancelsByDefault()
    {
        using var app = new EmulatorApp();
        // Stripe refuses a card that fails every charge at the first invoice: subscribe with a good card, then switch.
        var sub = await app.SubscribeAsync(TestCard.Visa);
        await app.ChangeCardInPortalAsync(sub.CustomerId, TestCard.VisaDeclinedAfterAttach);
        var end = PeriodEnd(sub);

        await AdvanceToAsync(app, end.AddHours(2));
        var renewal = (await InvoicesAsync(app, sub.Id)).Single(i => i.BillingReason == "subscription_cycle");
        renewal.Status.ShouldBe("open");
        renewal.AttemptCount.ShouldBe(1);
        var firstAttempt = end.AddHours(1);
        renewal.NextPaymentAttempt.ShouldBe(firstAttempt.AddDays(14.0 / 8).UtcDateTime);
        (await new SubscriptionService(app.Stripe).GetAsync(sub.Id)).Status.ShouldBe("past_due");
        var pastDue = (await app.EventsAsync("customer.subscription.updated"))
            .Single(e => ((Subscription)e.Data.Object).Id == sub.Id && ((Subscription)e.Data.Object).Status == "past_due");
        pastDue.RawJsonElement!.Value.GetProperty("data").GetProperty("previous_attributes").GetProperty("status").GetString().ShouldBe("active");

        // Just before the last retry: still past_due, seven retries made.
        await AdvanceToAsync(app, firstAttempt.AddDays(14).AddMinutes(-1));
        renewal = await new InvoiceService(app.Stripe).GetAsync(renewal.Id);
        renewal.AttemptCount.ShouldBe(8);
        (await new SubscriptionService(app.Stripe).GetAsync(sub.Id)).Status.ShouldBe("past_due");

        await AdvanceToAsync(app, firstAttempt.AddDays(14).AddMinutes(1));
        renewal = await new InvoiceService(app.Stripe).GetAsync(renewal.Id);
        renewal.AttemptCount.ShouldBe(9);
        renewal.Status.ShouldBe("open");
        renewal.NextPaymentAttempt.ShouldBeNull();
        (await EventsForAsync(app, "invoice.payment_failed", renewal.Id)).Count.ShouldBe(9);
        var ended = await new SubscriptionService(app.Stripe).GetAsync(sub.Id);
        ended.Status.ShouldBe("canceled");
        ended.CancellationDetails.Reason.ShouldBe("payment_failed");
        (await app.EventsAsync("customer.subscription.deleted")).Count(e => ((Subscription)e.Data.Object).Id == sub.Id).ShouldBe(1);

        // Nothing further happens to a canceled subscription: no new period, no more attempts.
        await app.Emulator.AdvanceClockAsync(TimeSpan.FromDays(40));
        (await InvoicesAsync(app, sub.Id)).Count.ShouldBe(2);
        (await new InvoiceService(app.Stripe).GetAsync(renewal.Id)).AttemptCount.ShouldBe(9);
    }

    [Fact]
    public async Task FailedRenewal_ConfiguredUnpaid_EndsUnpaid_AndLaterPeriodsAreInvoicedWithoutAttempts()
    {
        using var app = new EmulatorApp(new()
        {
            ["Billing:Emulator:RenewalRetries"] = "2",
            ["Billing:Emulator:RenewalRetryWindowDays"] = "4",
            ["Billing:Emulator:SubscriptionStatusAfterRetries"] = "Unpaid",
        });
        // Stripe refuses a card that fails every charge at the first invoice: subscribe with a good card, then switch.
        var sub = await app.SubscribeAsync(TestCard.Visa);
        await app.ChangeCardInPortalAsync(sub.CustomerId, TestCard.VisaDeclinedAfterAttach);
        var end = PeriodEnd(sub);

        await AdvanceToAsync(app, end.AddHours(1).AddDays(4).AddMinutes(1));
        var renewal = (await InvoicesAsync(app, sub.Id)).Single(i => i.BillingReason == "subscription_cycle");
        renewal.AttemptCount.ShouldBe(3);
        renewal.NextPaymentAttempt.ShouldBeNull();
        (await new SubscriptionService(app.Stripe).GetAsync(sub.Id)).Status.ShouldBe("unpaid");
        (await app.EventsAsync("customer.subscription.updated")).ShouldContain(e =>
            ((Subscription)e.Data.Object).Id == sub.Id && ((Subscription)e.Data.Object).Status == "unpaid");

        var next = PeriodEnd(await new SubscriptionService(app.Stripe).GetAsync(sub.Id));
        await AdvanceToAsync(app, next.AddHours(2));
        var cycles = (await InvoicesAsync(app, sub.Id)).Where(i => i.BillingReason == "subscription_cycle").ToList();
        cycles.Count.ShouldBe(2);
        cycles[0].Status.ShouldBe("open");
        cycles[0].AttemptCount.ShouldBe(0);
        (await new SubscriptionService(app.Stripe).GetAsync(sub.Id)).Status.ShouldBe("unpaid");
    }

    [Fact]
    public async Task FailedRenewal_ConfiguredPastDue_StaysPastDueAfterTheRetries()
    {
        using var app = new EmulatorApp(new()
        {
            ["Billing:Emulator:RenewalRetries"] = "1",
            ["Billing:Emulator:RenewalRetryWindowDays"] = "2",
            ["Billing:Emulator:SubscriptionStatusAfterRetries"] = "PastDue",
        });
        // Stripe refuses a card that fails every charge at the first invoice: subscribe with a good card, then switch.
        var sub = await app.SubscribeAsync(TestCard.Visa);
        await app.ChangeCardInPortalAsync(sub.CustomerId, TestCard.VisaDeclinedAfterAttach);
        await AdvanceToAsync(app, PeriodEnd(sub).AddDays(3));
        var renewal = (await InvoicesAsync(app, sub.Id)).Single(i => i.BillingReason == "subscription_cycle");
        renewal.AttemptCount.ShouldBe(2);
        renewal.NextPaymentAttempt.ShouldBeNull();
        (await new SubscriptionService(app.Stripe).GetAsync(sub.Id)).Status.ShouldBe("past_due");
    }

    [Fact]
    public async Task FailedRenewal_RetryWithAWorkingCard_PaysTheSameInvoiceAndReactivates()
    {
        using var app = new EmulatorApp();
        // Stripe refuses a card that fails every charge at the first invoice: subscribe with a good card, then switch.
        var sub = await app.SubscribeAsync(TestCard.Visa);
        await app.ChangeCardInPortalAsync(sub.CustomerId, TestCard.VisaDeclinedAfterAttach);
        var end = PeriodEnd(sub);
        await AdvanceToAsync(app, end.AddHours(2));
        (await new SubscriptionService(app.Stripe).GetAsync(sub.Id)).Status.ShouldBe("past_due");
        var renewal = (await InvoicesAsync(app, sub.Id)).Single(i => i.BillingReason == "subscription_cycle");

        // The customer's card is replaced by one that works (as an operator would by API); the next scheduled retry pays.
        var good = await new PaymentMethodService(app.Stripe).AttachAsync("pm_card_visa", new PaymentMethodAttachOptions { Customer = sub.CustomerId });
        await new SubscriptionService(app.Stripe).UpdateAsync(sub.Id, new SubscriptionUpdateOptions { DefaultPaymentMethod = good.Id });
        await AdvanceToAsync(app, renewal.NextPaymentAttempt!.Value.AddMinutes(1));

        renewal = await new InvoiceService(app.Stripe).GetAsync(renewal.Id);
        renewal.Status.ShouldBe("paid");
        renewal.AttemptCount.ShouldBe(2);
        (await new SubscriptionService(app.Stripe).GetAsync(sub.Id)).Status.ShouldBe("active");
        // Every attempt confirmed the invoice's one PaymentIntent: one succeeded charge, one failed.
        var charges = (await new ChargeService(app.Stripe).ListAsync(new ChargeListOptions { Customer = sub.CustomerId, Limit = 100 })).Data
            .Where(c => c.Created >= end.UtcDateTime).ToList();
        charges.Select(c => c.PaymentIntentId).Distinct().Count().ShouldBe(1);
        charges.Count(c => c.Status == "succeeded").ShouldBe(1);
        charges.Count(c => c.Status == "failed").ShouldBe(1);
    }
}
