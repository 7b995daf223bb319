using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GenSaaS.StripeEmulator;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// One live subscription per customer: /billing marks the plan and never offers it again, checkout refuses a second one
/// (409 <c>already_subscribed</c>), and two tabs opening checkout leave only the newest session payable.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class OneSubscriptionTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    [Fact]
    public async Task Subscribed_BillingPageMarksThePlan_AndCheckoutRefusesASecond_ForJsonFormAndHtmx()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        var sessionsBefore = await app.QueryAsync<long>("SELECT count(*) FROM checkout_sessions WHERE user_id = @id", new { id = user.Id });

        var page = await client.GetStringAsync("/billing");
        page.ShouldContain("data-testid=\"current-plan\"");
        page.ShouldNotContain("data-testid=\"choose-subscription_unlimited\"");
        page.ShouldContain("data-testid=\"manage-subscription_unlimited\"");
        page.ShouldContain("data-testid=\"choose-bundle_10\"");

        var json = await client.PostAsJsonAsync("/api/billing/checkout", new { plan = "subscription_unlimited" });
        json.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        var problem = await json.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("code").GetString().ShouldBe("already_subscribed");
        problem.GetProperty("manage_url").GetString().ShouldBe("/api/billing/portal");
        // The link works: it opens the portal for this customer.
        (await client.PostAsJsonAsync(problem.GetProperty("manage_url").GetString(), new { })).StatusCode.ShouldBe(HttpStatusCode.OK);

        var token = BillingTestApp.AntiforgeryToken(page);
        var form = await client.PostAsync("/api/billing/checkout", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["plan"] = "subscription_unlimited", ["__RequestVerificationToken"] = token,
        }));
        form.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        form.Headers.Location!.ToString().ShouldBe("/billing?checkout=already_subscribed");
        (await client.GetStringAsync(form.Headers.Location!.ToString())).ShouldContain("data-testid=\"already-subscribed\"");

        using var htmx = new HttpRequestMessage(HttpMethod.Post, "/api/billing/checkout")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["plan"] = "subscription_unlimited", ["__RequestVerificationToken"] = token }),
        };
        htmx.Headers.Add("HX-Request", "true");
        var hx = await client.SendAsync(htmx);
        hx.Headers.GetValues("HX-Redirect").Single().ShouldBe("/billing?checkout=already_subscribed");

        // Nothing was opened at Stripe for any of them; a bundle can still be bought.
        (await app.QueryAsync<long>("SELECT count(*) FROM checkout_sessions WHERE user_id = @id", new { id = user.Id })).ShouldBe(sessionsBefore);
        (await client.PostAsJsonAsync("/api/billing/checkout", new { plan = "bundle_10" })).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task PastDueSubscription_StillCountsAsLive_NoSecondCheckout()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        // As the webhook of a failed renewal leaves it: past_due is still a subscription Stripe keeps billing.
        await app.ExecuteAsync("UPDATE subscriptions SET status = 'past_due', last_event_created = last_event_created + 100000 WHERE user_id = @id", new { id = user.Id });

        var json = await client.PostAsJsonAsync("/api/billing/checkout", new { plan = "subscription_unlimited" });
        json.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await BillingTestApp.ProblemCodeAsync(json)).ShouldBe("already_subscribed");
        (await client.GetStringAsync("/billing")).ShouldNotContain("data-testid=\"choose-subscription_unlimited\"");
    }

    [Fact]
    public async Task TwoTabs_OpenSubscriptionCheckoutAtOnce_OnlyTheNewestSessionCanBePaid()
    {
        var (user, client) = await app.SignedInUserAsync();
        var opened = await Task.WhenAll(Enumerable.Range(0, 2).Select(async _ =>
        {
            var response = await client.PostAsJsonAsync("/api/billing/checkout", new { plan = "subscription_unlimited" });
            response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        }));
        var sessions = new Stripe.Checkout.SessionService(app.StripeClient);
        var customer = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = user.Id });
        var all = (await sessions.ListAsync(new Stripe.Checkout.SessionListOptions { Customer = customer, Limit = 100 })).Data;
        all.Count.ShouldBe(2);
        all.Count(s => s.Status == "open").ShouldBe(1, "only one subscription checkout stays payable");
        var open = all.Single(s => s.Status == "open");
        opened.ShouldContain(open.Id, "the tab that came last is sent to the payable session");

        // A third click while one is open: the older one is expired, the new one answers.
        var third = await client.PostAsJsonAsync("/api/billing/checkout", new { plan = "subscription_unlimited" });
        var thirdId = (await third.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        (await sessions.GetAsync(open.Id)).Status.ShouldBe("expired");
        using (var browser = app.NewClient())
            (await browser.GetStringAsync(open.Url)).ShouldNotContain("Card number", customMessage: "the expired session offers no payment form");
        var outcome = await app.PayAsync((await sessions.GetAsync(thirdId)).Url, TestCard.Visa);
        outcome.Completed.ShouldBeTrue(outcome.Error);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        (await new SubscriptionService(app.StripeClient).ListAsync(new SubscriptionListOptions { Customer = customer })).Data.Count.ShouldBe(1);
    }
}
