using System.Net;
using System.Text.RegularExpressions;
using GenSaaS.Web.Tests.Features.Billing;
using Stripe;
using static GenSaaS.Web.Tests.Features.Dashboard.DashboardKit;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>
/// The admin overview after a known sequence run through the real app and the emulator: every figure is what happened,
/// in each currency with its own decimals, and matches the rows it summarises.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class OverviewTests
{
    /// <summary>The 25-credit bundle in yen (no decimals) and the monthly plan in euros: three currencies from one catalogue.</summary>
    private static BillingTestApp NewApp() => new(new()
    {
        ["Billing:Plans:bundle_25:Currency"] = "jpy",
        ["Billing:Plans:bundle_25:PriceMinor"] = "1500",
        ["Billing:Plans:subscription_unlimited:Currency"] = "eur",
        ["Billing:Plans:subscription_unlimited:PriceMinor"] = "1900",
    });

    private static string? Href(string html, string testId) =>
        Regex.Match(html, $"<a href=\"([^\"]+)\"><strong data-testid=\"{Regex.Escape(testId)}\"") is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : null;

    [Fact]
    public async Task Overview_AfterGenerationsABundleARefundASubscriptionAndAFailedWebhook_ShowsExactlyThat()
    {
        using var app = NewApp();
        var (_, admin) = await app.SignedInUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);

        // An empty business first: zeros, no revenue, no charts of money.
        var empty = await admin.GetStringAsync("/admin");
        TextOf(empty, "today-generations").ShouldBe("0");
        TextOf(empty, "month-generations").ShouldBe("0");
        empty.ShouldContain("data-testid=\"today-no-revenue\"");
        TextOf(empty, "active-subscriptions").ShouldBe("0");
        TextOf(empty, "failed-webhooks").ShouldBe("0");

        // A buys 10 credits (4.00 USD), makes 3 images, and is refunded 1.00 USD.
        var (a, aClient) = await app.SignedInUserAsync();
        var sessionId = await app.BuyAsync(aClient, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(a.Id) == 10, "bundle granted");
        for (var i = 0; i < 3; i++)
            (await app.GenerateAsync(aClient, $"overview {i}")).StatusCode.ShouldBe(HttpStatusCode.Created);
        var intentId = (await new Stripe.Checkout.SessionService(app.StripeClient).GetAsync(sessionId)).PaymentIntentId;
        var chargeId = (await new PaymentIntentService(app.StripeClient).GetAsync(intentId)).LatestChargeId;
        await new RefundService(app.StripeClient).CreateAsync(new RefundCreateOptions { Charge = chargeId, Amount = 100 });
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<long>(
            "SELECT count(*) FROM payments WHERE kind = 'refund' AND user_id = @id", new { id = a.Id }) == 1, "refund recorded");

        // B buys 25 credits in yen.
        var (b, bClient) = await app.SignedInUserAsync();
        await app.BuyAsync(bClient, "bundle_25");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(b.Id) == 25, "yen bundle granted");

        // C subscribes in euros and makes 2 images on the plan.
        var (c, cClient) = await app.SignedInUserAsync();
        await app.BuyAsync(cClient, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(c.Id) == "active", "subscription active");
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<long>(
            "SELECT count(*) FROM payments WHERE kind = 'subscription_invoice' AND status = 'paid' AND user_id = @id", new { id = c.Id }) == 1, "first invoice paid");
        for (var i = 0; i < 2; i++)
            (await app.GenerateAsync(cClient, $"plan {i}")).StatusCode.ShouldBe(HttpStatusCode.Created);

        // A webhook about a customer the app does not know fails to apply.
        await app.DeliverSignedAsync(BillingTestApp.PaidBundleEvent("cus_unknown" + Guid.NewGuid().ToString("N")[..12]));

        var page = await admin.GetStringAsync("/admin");
        foreach (var period in new[] { "today", "month" })
        {
            TextOf(page, $"{period}-generations").ShouldBe("5", period);
            TextOf(page, $"{period}-gross-usd").ShouldBe("4.00 USD", period);
            TextOf(page, $"{period}-refunds-usd").ShouldBe("1.00 USD", period);
            TextOf(page, $"{period}-net-usd").ShouldBe("3.00 USD", period);
            TextOf(page, $"{period}-gross-jpy").ShouldBe("1500 JPY", period);
            TextOf(page, $"{period}-refunds-jpy").ShouldBe("0 JPY", period);
            TextOf(page, $"{period}-net-jpy").ShouldBe("1500 JPY", period);
            TextOf(page, $"{period}-gross-eur").ShouldBe("19.00 EUR", period);
            TextOf(page, $"{period}-net-eur").ShouldBe("19.00 EUR", period);
        }
        TextOf(page, "active-subscriptions").ShouldBe("1");
        TextOf(page, "mrr-eur").ShouldBe("19.00 EUR");
        page.ShouldNotContain("data-testid=\"mrr-usd\"");
        TextOf(page, "past-due-subscriptions").ShouldBe("0");
        TextOf(page, "failed-webhooks").ShouldBe("1");
        TextOf(page, "failed-captures").ShouldBe("0");

        // Each number leads to its list.
        Href(page, "failed-webhooks").ShouldBe("/admin/billing/events?status=failed");
        Href(page, "active-subscriptions").ShouldBe("/admin/customers?plan=subscription");
        Href(page, "failed-captures").ShouldNotBeNull();
        (await admin.GetAsync(Href(page, "failed-webhooks"))).StatusCode.ShouldBe(HttpStatusCode.OK);
        var subscribers = await admin.GetStringAsync(Href(page, "active-subscriptions"));
        subscribers.ShouldContain(c.Email!);
        subscribers.ShouldNotContain(b.Email!);

        // The charts: today's bars carry the day's figures (net, in minor units), the 29 days before are empty.
        var today = Day(DateTime.UtcNow);
        var generations = Bars(page, "chart-overview-generations");
        generations.Count.ShouldBe(30);
        generations[^1].ShouldBe((today, 5L));
        generations.Take(29).ShouldAllBe(bar => bar.Value == 0);
        Bars(page, "chart-overview-revenue-usd")[^1].ShouldBe((today, 300L));
        Bars(page, "chart-overview-revenue-jpy")[^1].ShouldBe((today, 1500L));
        Bars(page, "chart-overview-revenue-eur")[^1].ShouldBe((today, 1900L));

        // The per-day table agrees with the rows it summarises.
        (await app.QueryAsync<long>("SELECT count(*) FROM generations")).ShouldBe(5);
        (await app.QueryAsync<long>("SELECT sum(CASE kind WHEN 'refund' THEN -amount_minor ELSE amount_minor END) FROM payments WHERE currency = 'usd' AND kind <> 'authorisation'"))
            .ShouldBe(300);
    }

    [Fact]
    public async Task Overview_CountsDaysByTheirUtcDate_TodayMonthAndChartApart_AndAPaymentPaidLaterMovesItsDay()
    {
        using var app = new BillingTestApp();
        var (_, admin) = await app.SignedInUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);
        var customer = await app.CreateUserAsync($"days-{Guid.NewGuid():N}@example.com");
        var now = DateTime.UtcNow;
        var yesterday = now.AddDays(-1);
        var longAgo = now.AddDays(-45);
        await InsertGenerationAsync(app.Db, customer.Id, now);
        await InsertGenerationAsync(app.Db, customer.Id, yesterday);
        await InsertGenerationAsync(app.Db, customer.Id, yesterday);
        await InsertGenerationAsync(app.Db, customer.Id, longAgo);
        await InsertPaymentAsync(app.Db, customer.Id, "bundle", 900, "usd", "paid", yesterday);
        await InsertPaymentAsync(app.Db, customer.Id, "bundle", 400, "usd", "unpaid", now, stripeId: "cs_later");
        await InsertPaymentAsync(app.Db, customer.Id, "authorisation", 50, "usd", "authorised", now);

        var page = await admin.GetStringAsync("/admin");
        TextOf(page, "today-generations").ShouldBe("1");
        var sameMonth = yesterday.Month == now.Month;
        TextOf(page, "month-generations").ShouldBe(sameMonth ? "3" : "1");
        page.ShouldContain("data-testid=\"today-no-revenue\"");
        var bars = Bars(page, "chart-overview-generations");
        bars[^1].ShouldBe((Day(now), 1L));
        bars[^2].ShouldBe((Day(yesterday), 2L));
        bars.Sum(b => b.Value).ShouldBe(3);
        Bars(page, "chart-overview-revenue-usd")[^2].ShouldBe((Day(yesterday), 900L));

        // The bank debit clears: the bundle counts on the day it was first recorded (today), once.
        await app.ExecuteAsync("UPDATE payments SET status = 'paid' WHERE stripe_id = 'cs_later'");
        await app.ExecuteAsync("UPDATE payments SET updated_at = updated_at WHERE stripe_id = 'cs_later'");
        page = await admin.GetStringAsync("/admin");
        TextOf(page, "today-gross-usd").ShouldBe("4.00 USD");
        TextOf(page, "today-net-usd").ShouldBe("4.00 USD");
        TextOf(page, "month-gross-usd").ShouldBe(sameMonth ? "13.00 USD" : "4.00 USD");
    }

    [Fact]
    public async Task Overview_IsRefusedToACustomer()
    {
        using var app = new BillingTestApp();
        var (_, client) = await app.SignedInUserAsync();
        (await client.GetAsync("/admin")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }
}
