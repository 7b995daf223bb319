using System.Net;
using System.Text.RegularExpressions;
using GenSaaS.StripeEmulator;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// <c>/billing/plan/subscribe</c>: the monthly plan's price, first charge, renewal and what becomes of credits, shown before
/// Checkout; the confirm button opens Checkout; a subscriber is refused; Stripe not answering opens nothing.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class SubscribePreviewTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private const string Preview = "/billing/plan/subscribe";

    private Task<long> SessionsAsync(string userId) =>
        app.QueryAsync<long>("SELECT count(*) FROM checkout_sessions WHERE user_id = @userId", new { userId });

    private static Task<HttpResponseMessage> ConfirmAsync(HttpClient client, string html) =>
        client.PostAsync(Preview, new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = BillingTestApp.AntiforgeryToken(html) }));

    [Fact]
    public async Task Preview_ShowsPriceRenewalAndKeptCredits_OpensNothing_ThenConfirmGoesToCheckout_AndTheCreditsWait()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "the bundle's credits granted");
        var sessionsBefore = await SessionsAsync(user.Id);

        var billing = await client.GetStringAsync("/billing");
        billing.ShouldContain("href=\"/billing/plan/subscribe\" data-testid=\"choose-subscription_unlimited\"");
        var before = DateTime.UtcNow;
        var page = await client.GetStringAsync(Preview);
        var after = DateTime.UtcNow;
        page.ShouldContain("<strong>19.00 USD</strong> a month");
        page.ShouldContain("The first month is charged now");
        Regex.IsMatch(page, $"On ({before.AddMonths(1):yyyy-MM-dd}|{after.AddMonths(1):yyyy-MM-dd}) \\(UTC\\)").ShouldBeTrue("the renewal date is a month from today");
        page.ShouldContain("Your 10 prepaid credits are kept");
        page.ShouldContain("beyond its 1,000 a month");
        page.ShouldContain("data-testid=\"confirm-subscribe\"");
        (await SessionsAsync(user.Id)).ShouldBe(sessionsBefore, "showing the preview opens nothing at Stripe");

        var confirmed = await ConfirmAsync(client, page);
        confirmed.StatusCode.ShouldBe(HttpStatusCode.SeeOther, await confirmed.Content.ReadAsStringAsync());
        var checkoutUrl = confirmed.Headers.Location!.ToString();
        checkoutUrl.ShouldContain("/emulator/checkout/cs_");
        var session = await new Stripe.Checkout.SessionService(app.StripeClient).GetAsync(new Uri(checkoutUrl).Segments[^1]);
        session.Mode.ShouldBe("subscription");
        session.AmountTotal.ShouldBe(1900);
        (await app.PayAsync(checkoutUrl, TestCard.Visa)).Completed.ShouldBeTrue();
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");

        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await app.PrepaidAsync(user.Id)).ShouldBe(10, "as the preview said, the plan pays first and the credits wait");
    }

    [Fact]
    public async Task Subscriber_IsRefused_OnThePreviewAndItsConfirm_WithLinksToManageThePlan()
    {
        var (user, client) = await app.SignedInUserAsync();
        var shown = await client.GetStringAsync(Preview);
        await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        var sessionsBefore = await SessionsAsync(user.Id);

        var page = await client.GetStringAsync(Preview);
        page.ShouldContain("data-testid=\"already-subscribed\"");
        page.ShouldContain("href=\"/billing/plan/cancel\" data-testid=\"manage-cancel\"");
        page.ShouldNotContain("data-testid=\"confirm-subscribe\"");

        // The preview shown before subscribing (another tab), confirmed now: 409, the page says so, nothing opened at Stripe.
        var stale = await ConfirmAsync(client, shown);
        stale.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await stale.Content.ReadAsStringAsync()).ShouldContain("data-testid=\"already-subscribed\"");
        (await SessionsAsync(user.Id)).ShouldBe(sessionsBefore);
        var customer = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = user.Id });
        (await new SubscriptionService(app.StripeClient).ListAsync(new SubscriptionListOptions { Customer = customer })).Data.Count.ShouldBe(1);
    }

    [Fact]
    public async Task DoubleSubmit_LeavesOneCheckoutPayable()
    {
        var (user, client) = await app.SignedInUserAsync();
        var page = await client.GetStringAsync(Preview);
        var answers = await Task.WhenAll(ConfirmAsync(client, page), ConfirmAsync(client, page));
        answers.ShouldAllBe(a => a.StatusCode == HttpStatusCode.SeeOther);
        var customer = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = user.Id });
        var sessions = (await new Stripe.Checkout.SessionService(app.StripeClient).ListAsync(new Stripe.Checkout.SessionListOptions { Customer = customer })).Data;
        sessions.Count(s => s.Status == "open").ShouldBe(1, "a double click leaves one payable Checkout");
    }

    [Fact]
    public async Task StripeNotAnswering_ShowsThePageWith503_AndStartsNothing()
    {
        var (user, client) = await app.SignedInUserAsync();
        var page = await client.GetStringAsync(Preview);
        app.Emulator.SetApiFaults(new ApiFaults { ServerErrorPercent = 100, Route = "POST /checkout/sessions" });
        HttpResponseMessage answer;
        try
        {
            answer = await ConfirmAsync(client, page);
        }
        finally
        {
            app.Emulator.SetApiFaults(new ApiFaults());
        }
        answer.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        var html = await answer.Content.ReadAsStringAsync();
        html.ShouldContain("data-testid=\"checkout-unavailable\"");
        html.ShouldContain("data-testid=\"confirm-subscribe\"", customMessage: "the button is offered again");
        (await SessionsAsync(user.Id)).ShouldBe(0);
        (await app.SubscriptionStatusAsync(user.Id)).ShouldBeNull();
    }

    [Fact]
    public async Task Strangers_AndForgedPosts_AreRefused()
    {
        using var anonymous = app.NewClient();
        var get = await anonymous.GetAsync(Preview);
        get.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        get.Headers.Location!.ToString().ShouldContain("Login");
        (await anonymous.PostAsync(Preview, new FormUrlEncodedContent(new Dictionary<string, string>()))).StatusCode
            .ShouldBeOneOf(HttpStatusCode.BadRequest, HttpStatusCode.Redirect);

        var (user, client) = await app.SignedInUserAsync();
        var forged = await client.PostAsync(Preview, new FormUrlEncodedContent(new Dictionary<string, string> { ["RequestId"] = "x" }));
        forged.StatusCode.ShouldBe(HttpStatusCode.BadRequest, "no antiforgery token");
        (await SessionsAsync(user.Id)).ShouldBe(0);
    }

    [Fact]
    public async Task Price_IsShownInThePlansCurrencyWithItsDecimals()
    {
        using var yen = new BillingTestApp(new Dictionary<string, string?>
        {
            ["Billing:Plans:subscription_unlimited:Currency"] = "jpy",
            ["Billing:Plans:subscription_unlimited:PriceMinor"] = "2900",
        });
        var (_, client) = await yen.SignedInUserAsync();
        var page = await client.GetStringAsync(Preview);
        page.ShouldContain("<strong>2900 JPY</strong> a month");
        page.ShouldContain("You have no credits now");
    }
}
