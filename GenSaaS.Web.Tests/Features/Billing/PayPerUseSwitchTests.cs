using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// <c>/billing/plan/pay-per-use</c> and <c>POST /api/v1/billing/pay-per-use</c>: from the monthly plan (canceled at period end,
/// the card pays after), from credits (credits first), without a card (saved first, then back), and what a careless or
/// hostile client does: double submits, two tabs, retries, no scope, forged forms, Stripe not answering.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class PayPerUseSwitchTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private const string Page = "/billing/plan/pay-per-use";
    private const string Api = "/api/v1/billing/pay-per-use";

    private Task<(IdentityUser User, HttpClient Client, string SubscriptionId)> SubscriberAsync() => app.SubscribedUserAsync();

    private Task<bool> HasCardAsync(string userId) =>
        app.QueryAsync<bool>("SELECT count(*) > 0 FROM billing_customers WHERE user_id = @userId AND default_payment_method IS NOT NULL", new { userId });

    private async Task SaveCardAsync(HttpClient client, string userId)
    {
        await app.BuyAsync(client, "pay_per_use");
        await BillingTestApp.EventuallyAsync(() => HasCardAsync(userId), "the card saved");
    }

    private async Task<bool> StripeCancelAtPeriodEndAsync(string subscriptionId) =>
        (await new SubscriptionService(app.StripeClient).GetAsync(subscriptionId)).CancelAtPeriodEnd;

    private Task<long> StoredCancelAtPeriodEndAsync(string subscriptionId) =>
        app.QueryAsync<long>("SELECT cancel_at_period_end FROM subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId });

    /// <summary>The customer.subscription.updated events in which cancel_at_period_end changed: one per change made at Stripe.</summary>
    private async Task<int> CancelFlagChangesAsync(string subscriptionId) =>
        (await new EventService(app.StripeClient).ListAsync(new EventListOptions { Type = "customer.subscription.updated", Limit = 100 })).Data
        .Count(e => ((Subscription)e.Data.Object).Id == subscriptionId
                    && e.Data.PreviousAttributes is Newtonsoft.Json.Linq.JObject previous && previous.ContainsKey("cancel_at_period_end"));

    private async Task<HttpClient> KeyAsync(string userId, params string[] scopes)
    {
        var created = await app.Services.GetRequiredService<ApiKeyStore>().CreateAsync(userId, "pay per use test", scopes, CancellationToken.None);
        var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", created!.Value.Key);
        return client;
    }

    /// <summary>Sends the confirm form of a page already shown (a tab), with its nonce unless another is given.</summary>
    private static Task<HttpResponseMessage> SubmitAsync(HttpClient client, string html, string? requestId = null, string handler = "")
    {
        var form = new Dictionary<string, string> { ["__RequestVerificationToken"] = BillingTestApp.AntiforgeryToken(html) };
        var nonce = Regex.Match(html, "name=\"RequestId\" value=\"([0-9a-f]{32})\"");
        if (requestId is not null || nonce.Success)
            form["RequestId"] = requestId ?? nonce.Groups[1].Value;
        return client.PostAsync(Page + handler, new FormUrlEncodedContent(form));
    }

    private static async Task<JsonElement> OkJsonAsync(HttpResponseMessage response)
    {
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task Subscriber_WithoutACard_SavesOneFirst_ComesBack_Confirms_AndThePlanEndsAtPeriodEnd()
    {
        var (user, client, subscriptionId) = await SubscriberAsync();
        var periodEnd = (await new SubscriptionService(app.StripeClient).GetAsync(subscriptionId)).Items.Data[0].CurrentPeriodEnd.ToString("yyyy-MM-dd");
        (await client.GetStringAsync("/billing")).ShouldContain("href=\"/billing/plan/pay-per-use\" data-testid=\"switch-pay-per-use\"");

        var page = await client.GetStringAsync(Page);
        page.ShouldContain("data-testid=\"save-card-first\"");
        page.ShouldContain($"on {periodEnd} (UTC)");
        page.ShouldContain("0.50 USD per image");
        page.ShouldNotContain("data-testid=\"confirm-pay-per-use\"");
        // The confirm posted anyway (a stale or forged form): nothing changes without a card.
        var refused = await SubmitAsync(client, page, requestId: Guid.NewGuid().ToString("N"));
        refused.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await refused.Content.ReadAsStringAsync()).ShouldContain("data-testid=\"card-missing\"");
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeFalse();

        // Step one: save a card (setup Checkout); its success page leads back here.
        var toCheckout = await SubmitAsync(client, page, handler: "?handler=SaveCard");
        toCheckout.StatusCode.ShouldBe(HttpStatusCode.SeeOther, await toCheckout.Content.ReadAsStringAsync());
        var paid = await app.PayAsync(toCheckout.Headers.Location!.ToString(), TestCard.Visa);
        paid.Completed.ShouldBeTrue(paid.Error);
        paid.RedirectUrl!.ShouldContain("&next=pay-per-use");
        (await client.GetStringAsync(new Uri(paid.RedirectUrl!).PathAndQuery)).ShouldContain("href=\"/billing/plan/pay-per-use\" data-testid=\"continue-next\"");
        await BillingTestApp.EventuallyAsync(() => HasCardAsync(user.Id), "the card saved");
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeFalse("saving a card leaves the plan as it is");

        page = await client.GetStringAsync(Page);
        page.ShouldContain("data-testid=\"confirm-pay-per-use\"");
        page.ShouldContain($"The 19.00 USD renewal on {periodEnd} is not charged");
        var confirmed = await SubmitAsync(client, page);
        confirmed.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        confirmed.Headers.Location!.ToString().ShouldBe("/billing");
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeTrue();
        (await StoredCancelAtPeriodEndAsync(subscriptionId)).ShouldBe(1);
        var billing = await client.GetStringAsync("/billing");
        billing.ShouldContain($"Switched to pay per use: your monthly plan ends on {periodEnd}");
        billing.ShouldContain("data-testid=\"resume-plan\"");
        (await client.GetStringAsync(Page)).ShouldContain("data-testid=\"already-switched\"");

        // Until the period ends the plan pays, not the card.
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await app.QueryAsync<long>("SELECT count(*) FROM usage_charges WHERE user_id = @id", new { id = user.Id })).ShouldBe(0);
    }

    [Fact]
    public async Task FromCredits_SavingTheCardIsTheSwitch_CreditsPayFirst_AndBillingOffersTheWayBack()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "the bundle's credits granted");

        var page = await client.GetStringAsync(Page);
        page.ShouldContain("As soon as your card is saved.");
        page.ShouldContain("Your 10 prepaid credits are used first");
        page.ShouldContain("data-testid=\"save-card\"");
        var toCheckout = await SubmitAsync(client, page, handler: "?handler=SaveCard");
        toCheckout.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        (await app.PayAsync(toCheckout.Headers.Location!.ToString(), TestCard.Visa)).Completed.ShouldBeTrue();
        await BillingTestApp.EventuallyAsync(() => HasCardAsync(user.Id), "the card saved");

        (await client.GetStringAsync(Page)).ShouldContain("data-testid=\"already-pay-per-use\"");
        var billing = await client.GetStringAsync("/billing");
        billing.ShouldContain("href=\"/billing/plan/subscribe\" data-testid=\"switch-to-plan\"");
        billing.ShouldContain("data-testid=\"switch-to-bundle\"");
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await app.PrepaidAsync(user.Id)).ShouldBe(9, "credits pay before the card");
        (await app.QueryAsync<long>("SELECT count(*) FROM usage_charges WHERE user_id = @id", new { id = user.Id })).ShouldBe(0);

        // The confirm of a customer already on pay per use changes nothing and says so.
        var again = await SubmitAsync(client, await client.GetStringAsync(Page), requestId: Guid.NewGuid().ToString("N"));
        again.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await client.GetStringAsync("/billing")).ShouldContain("You already pay per use");
        // Saving a card twice from here opens nothing.
        var sessions = await app.QueryAsync<long>("SELECT count(*) FROM checkout_sessions WHERE user_id = @id", new { id = user.Id });
        var saveAgain = await SubmitAsync(client, await client.GetStringAsync(Page), handler: "?handler=SaveCard");
        saveAgain.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await app.QueryAsync<long>("SELECT count(*) FROM checkout_sessions WHERE user_id = @id", new { id = user.Id })).ShouldBe(sessions);
    }

    [Fact]
    public async Task Api_NeedsACard_SwitchesOnce_RetriesAnswerTheSame_AndNeedsTheBillingScope()
    {
        var (user, client, subscriptionId) = await SubscriberAsync();
        var noCard = await client.PostAsync(Api, null);
        noCard.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await BillingTestApp.ProblemCodeAsync(noCard)).ShouldBe("no_saved_card");
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeFalse();

        await SaveCardAsync(client, user.Id);
        using var reader = await KeyAsync(user.Id, [.. ApiKeyScopes.Default]);
        var forbidden = await reader.PostAsync(Api, null);
        forbidden.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await BillingTestApp.ProblemCodeAsync(forbidden)).ShouldBe("insufficient_scope");
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeFalse("a key without the billing scope changed nothing");

        using var billingKey = await KeyAsync(user.Id, ApiKeyScopes.Billing);
        using var tooLong = new HttpRequestMessage(HttpMethod.Post, Api);
        tooLong.Headers.Add("Idempotency-Key", new string('k', 256));
        var bad = await billingKey.SendAsync(tooLong);
        bad.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await BillingTestApp.ProblemCodeAsync(bad)).ShouldBe("validation_failed");

        HttpRequestMessage Keyed() { var r = new HttpRequestMessage(HttpMethod.Post, Api); r.Headers.Add("Idempotency-Key", "switch-1"); return r; }
        var switched = await OkJsonAsync(await billingKey.SendAsync(Keyed()));
        switched.GetProperty("object").GetString().ShouldBe("billing");
        switched.GetProperty("subscription").GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBeTrue();
        switched.GetProperty("payPerUse").GetBoolean().ShouldBeTrue();
        var retried = await OkJsonAsync(await billingKey.SendAsync(Keyed()));
        retried.GetProperty("subscription").GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBeTrue();
        await OkJsonAsync(await billingKey.PostAsync(Api, null));
        await BillingTestApp.EventuallyAsync(async () => await CancelFlagChangesAsync(subscriptionId) >= 1, "the cancel's event");
        (await CancelFlagChangesAsync(subscriptionId)).ShouldBe(1, "three calls, one change at Stripe");
    }

    [Fact]
    public async Task DoubleSubmit_TwoTabs_AndTheApiAtOnce_MakeOneChange()
    {
        var (user, client, subscriptionId) = await SubscriberAsync();
        await SaveCardAsync(client, user.Id);
        var firstTab = await client.GetStringAsync(Page);
        var secondTab = await client.GetStringAsync(Page);
        var answers = await Task.WhenAll(
            SubmitAsync(client, firstTab),
            SubmitAsync(client, secondTab),
            SubmitAsync(client, secondTab),
            client.PostAsync(Api, null));
        answers.Take(3).ShouldAllBe(a => a.StatusCode == HttpStatusCode.Redirect);
        answers[3].StatusCode.ShouldBe(HttpStatusCode.OK);
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeTrue();
        await BillingTestApp.EventuallyAsync(async () => await CancelFlagChangesAsync(subscriptionId) >= 1, "the cancel's event");
        (await CancelFlagChangesAsync(subscriptionId)).ShouldBe(1, "one change at Stripe");
    }

    [Fact]
    public async Task StripeNotAnswering_Is503_ChangesNothing_AndSaysSo_ThenTheRetryWorks()
    {
        var (user, client, subscriptionId) = await SubscriberAsync();
        await SaveCardAsync(client, user.Id);
        var page = await client.GetStringAsync(Page);
        app.Emulator.SetApiFaults(new ApiFaults { ServerErrorPercent = 100, Route = "POST /subscriptions/sub_" });
        HttpResponseMessage form, api;
        try
        {
            form = await SubmitAsync(client, page);
            api = await client.PostAsync(Api, null);
        }
        finally
        {
            app.Emulator.SetApiFaults(new ApiFaults());
        }
        form.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        var html = await form.Content.ReadAsStringAsync();
        html.ShouldContain("data-testid=\"stripe-unavailable\"");
        html.ShouldContain("data-testid=\"confirm-pay-per-use\"", customMessage: "the button is offered again");
        api.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await BillingTestApp.ProblemCodeAsync(api)).ShouldBe("stripe_unavailable");
        api.Headers.RetryAfter.ShouldNotBeNull();
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeFalse();
        (await StoredCancelAtPeriodEndAsync(subscriptionId)).ShouldBe(0);

        (await SubmitAsync(client, html)).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeTrue();
    }

    [Fact]
    public async Task Strangers_ForgedForms_StrangeNonces_AndStrangeNextPages_ChangeNothing()
    {
        using var anonymous = app.NewClient();
        var get = await anonymous.GetAsync(Page);
        get.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        get.Headers.Location!.ToString().ShouldContain("Login");
        (await anonymous.PostAsync(Api, null)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        var (user, client, subscriptionId) = await SubscriberAsync();
        await SaveCardAsync(client, user.Id);
        var noToken = await client.PostAsync(Page, new FormUrlEncodedContent(new Dictionary<string, string> { ["RequestId"] = new string('a', 32) }));
        noToken.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        using var crossSite = app.NewCrossSiteClient();
        (await crossSite.PostAsync(Api, null)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized, "another site's post carries no session");
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeFalse();

        // A nonce that is not one the app made is replaced: the change is still made, once, and no user text reaches Stripe.
        var posted = await SubmitAsync(client, await client.GetStringAsync(Page), requestId: "../" + new string('x', 400));
        posted.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeTrue();

        // The success page links on only to pages it knows.
        var session = await app.QueryAsync<string>("SELECT id FROM checkout_sessions WHERE user_id = @id AND mode = 'setup'", new { id = user.Id });
        var evil = await client.GetStringAsync($"/billing/success?session_id={session}&next=https://evil.example/");
        evil.ShouldNotContain("data-testid=\"continue-next\"");
        evil.ShouldNotContain("evil.example");
    }
}
