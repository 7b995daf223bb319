using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// Self-serve plan changes in the app: cancel at period end and resume (confirm pages and the JSON API), their refusals,
/// scopes, Stripe being unreachable, double submits; a bundle bought while subscribed; switching to pay per use.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class PlanChangeTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private const string CancelUrl = "/api/v1/billing/subscription/cancel";
    private const string ResumeUrl = "/api/v1/billing/subscription/resume";

    private Task<(IdentityUser User, HttpClient Client, string SubscriptionId)> SubscriberAsync() => app.SubscribedUserAsync();

    private async Task<HttpClient> KeyAsync(string userId, params string[] scopes)
    {
        var created = await app.Services.GetRequiredService<ApiKeyStore>().CreateAsync(userId, "plan change test", scopes, CancellationToken.None);
        var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", created!.Value.Key);
        return client;
    }

    private Task<long> StoredCancelAtPeriodEndAsync(string subscriptionId) =>
        app.QueryAsync<long>("SELECT cancel_at_period_end FROM subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId });

    private async Task<bool> StripeCancelAtPeriodEndAsync(string subscriptionId) =>
        (await new SubscriptionService(app.StripeClient).GetAsync(subscriptionId)).CancelAtPeriodEnd;

    /// <summary>The customer.subscription.updated events Stripe sent for the subscription in which cancel_at_period_end changed.</summary>
    private async Task<List<Event>> CancelFlagChangesAsync(string subscriptionId) =>
        (await new EventService(app.StripeClient).ListAsync(new EventListOptions { Type = "customer.subscription.updated", Limit = 100 })).Data
        .Where(e => ((Subscription)e.Data.Object).Id == subscriptionId
                    && e.Data.PreviousAttributes is Newtonsoft.Json.Linq.JObject previous && previous.ContainsKey("cancel_at_period_end"))
        .ToList();

    private static async Task<JsonElement> OkJsonAsync(HttpResponseMessage response)
    {
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static async Task ShouldBeProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        response.StatusCode.ShouldBe(status, await response.Content.ReadAsStringAsync());
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        (await BillingTestApp.ProblemCodeAsync(response)).ShouldBe(code);
    }

    private static async Task<HttpResponseMessage> ConfirmAsync(HttpClient client, string page, string? requestId = null) =>
        await SubmitAsync(client, page, await client.GetStringAsync(page), requestId);

    /// <summary>Sends the confirm form of <paramref name="html"/> (a confirm page already shown in a tab).</summary>
    private static async Task<HttpResponseMessage> SubmitAsync(HttpClient client, string page, string html, string? requestId = null)
    {
        var form = new Dictionary<string, string> { ["__RequestVerificationToken"] = BillingTestApp.AntiforgeryToken(html) };
        var nonce = System.Text.RegularExpressions.Regex.Match(html, "name=\"RequestId\" value=\"([0-9a-f]{32})\"");
        nonce.Success.ShouldBeTrue("the confirm page carries its nonce");
        form["RequestId"] = requestId ?? nonce.Groups[1].Value;
        return await client.PostAsync(page, new FormUrlEncodedContent(form));
    }

    [Fact]
    public async Task CancelThenResume_OnTheConfirmPages_ShowsCostAndDate_ChangesStripe_AndTheBillingPageAtOnce()
    {
        var (user, client, subscriptionId) = await SubscriberAsync();
        var periodEnd = (await new SubscriptionService(app.StripeClient).GetAsync(subscriptionId)).Items.Data[0].CurrentPeriodEnd.ToString("yyyy-MM-dd");

        var billing = await client.GetStringAsync("/billing");
        billing.ShouldContain("data-testid=\"cancel-plan\"");
        var confirm = await client.GetStringAsync("/billing/plan/cancel");
        confirm.ShouldContain("data-testid=\"confirm-cancel\"");
        confirm.ShouldContain($"on {periodEnd}");
        confirm.ShouldContain("renewal on " + periodEnd + " is not charged");
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeFalse("showing the confirm page changes nothing");

        var posted = await ConfirmAsync(client, "/billing/plan/cancel");
        posted.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        posted.Headers.Location!.ToString().ShouldBe("/billing");
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeTrue();
        (await StoredCancelAtPeriodEndAsync(subscriptionId)).ShouldBe(1, "the page shows the change before the webhook arrives");
        billing = await client.GetStringAsync("/billing");
        billing.ShouldContain($"it keeps working until {periodEnd}");
        billing.ShouldContain("data-testid=\"resume-plan\"");
        billing.ShouldContain("ends on <span data-testid=\"next-billing-date\">" + periodEnd);
        // The webhook Stripe sent (with previous_attributes, as Stripe does) is applied and agrees.
        var change = (await CancelFlagChangesAsync(subscriptionId)).ShouldHaveSingleItem();
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<string?>("SELECT status FROM stripe_events WHERE id = @id", new { id = change.Id }) == "applied",
            "the cancel's webhook applied");
        (await StoredCancelAtPeriodEndAsync(subscriptionId)).ShouldBe(1);
        (await app.SubscriptionStatusAsync(user.Id)).ShouldBe("active", "the plan keeps working until its period ends");

        var resume = await client.GetStringAsync("/billing/plan/resume");
        resume.ShouldContain("data-testid=\"confirm-resume\"");
        resume.ShouldContain($"charged to your plan's card on {periodEnd}");
        posted = await ConfirmAsync(client, "/billing/plan/resume");
        posted.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeFalse();
        (await StoredCancelAtPeriodEndAsync(subscriptionId)).ShouldBe(0);
        billing = await client.GetStringAsync("/billing");
        billing.ShouldContain($"Your plan continues: it renews on {periodEnd}");
        billing.ShouldContain("data-testid=\"cancel-plan\"");
        await BillingTestApp.EventuallyAsync(async () => (await CancelFlagChangesAsync(subscriptionId)).Count == 2, "the resume's webhook sent");
    }

    [Fact]
    public async Task Api_CancelAndResume_AnswerTheBillingShape_AndRefuseWhatIsAlreadySo()
    {
        var (_, client, subscriptionId) = await SubscriberAsync();

        var canceled = await OkJsonAsync(await client.PostAsync(CancelUrl, null));
        canceled.GetProperty("object").GetString().ShouldBe("billing");
        canceled.GetProperty("subscription").GetProperty("id").GetString().ShouldBe(subscriptionId);
        canceled.GetProperty("subscription").GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBeTrue();
        canceled.GetProperty("plan").GetString().ShouldBe("subscription_unlimited", "the plan stays live until its period ends");
        (await OkJsonAsync(await client.GetAsync("/api/v1/billing"))).GetProperty("subscription").GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBeTrue();

        await ShouldBeProblemAsync(await client.PostAsync(CancelUrl, null), HttpStatusCode.Conflict, "already_canceling");

        var resumed = await OkJsonAsync(await client.PostAsync(ResumeUrl, null));
        resumed.GetProperty("subscription").GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBeFalse();
        await ShouldBeProblemAsync(await client.PostAsync(ResumeUrl, null), HttpStatusCode.Conflict, "not_canceling");
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeFalse();
        await BillingTestApp.EventuallyAsync(async () => (await CancelFlagChangesAsync(subscriptionId)).Count == 2, "one cancel and one resume at Stripe");
        (await CancelFlagChangesAsync(subscriptionId)).Count.ShouldBe(2, "the refused requests changed nothing at Stripe");
    }

    [Fact]
    public async Task NoSubscription_Is404_AndAnEndedOne_Is409SubscriptionEnded()
    {
        var (_, client) = await app.SignedInUserAsync();
        await ShouldBeProblemAsync(await client.PostAsync(CancelUrl, null), HttpStatusCode.NotFound, "no_subscription");
        await ShouldBeProblemAsync(await client.PostAsync(ResumeUrl, null), HttpStatusCode.NotFound, "no_subscription");
        (await client.GetStringAsync("/billing/plan/cancel")).ShouldContain("data-testid=\"no-plan\"");

        var (user, subscriber, subscriptionId) = await SubscriberAsync();
        // Ended at Stripe (canceled from the Dashboard); its webhook may not have arrived yet: the app asks Stripe first.
        await new SubscriptionService(app.StripeClient).CancelAsync(subscriptionId);
        await ShouldBeProblemAsync(await subscriber.PostAsync(CancelUrl, null), HttpStatusCode.Conflict, "subscription_ended");
        await ShouldBeProblemAsync(await subscriber.PostAsync(ResumeUrl, null), HttpStatusCode.Conflict, "subscription_ended");
        (await app.SubscriptionStatusAsync(user.Id)).ShouldBe("canceled");
        (await subscriber.GetStringAsync("/billing/plan/cancel")).ShouldContain("data-testid=\"no-plan\"");
    }

    [Fact]
    public async Task ApiKeys_NeedTheBillingScope_AndACookiePostNeedsSameSiteProof()
    {
        var (user, client, subscriptionId) = await SubscriberAsync();
        using var defaults = await KeyAsync(user.Id, [.. ApiKeyScopes.Default]);
        var refused = await defaults.PostAsync(CancelUrl, null);
        await ShouldBeProblemAsync(refused, HttpStatusCode.Forbidden, "insufficient_scope");
        refused.Headers.WwwAuthenticate.ToString().ShouldContain("scope=\"billing\"");
        await ShouldBeProblemAsync(await defaults.PostAsync(ResumeUrl, null), HttpStatusCode.Forbidden, "insufficient_scope");

        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeFalse("a key without the scope changed nothing");

        using var billingKey = await KeyAsync(user.Id, ApiKeyScopes.Billing);
        (await OkJsonAsync(await billingKey.PostAsync(CancelUrl, null))).GetProperty("subscription").GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBeTrue();
        (await OkJsonAsync(await billingKey.PostAsync(ResumeUrl, null))).GetProperty("subscription").GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBeFalse();

        // The signed-in browser without the antiforgery token or X-Requested-With: refused before anything is asked of Stripe.
        using var bare = new HttpRequestMessage(HttpMethod.Post, CancelUrl);
        client.DefaultRequestHeaders.Remove("X-Requested-With");
        var forged = await client.SendAsync(bare);
        await ShouldBeProblemAsync(forged, HttpStatusCode.BadRequest, "antiforgery_failed");
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeFalse();
    }

    [Fact]
    public async Task Canceling_LeavesAnotherCustomersPlanUntouched()
    {
        var (_, mine, mySubscription) = await SubscriberAsync();
        var (_, theirs, theirSubscription) = await SubscriberAsync();
        await OkJsonAsync(await mine.PostAsync(CancelUrl, null));
        (await StripeCancelAtPeriodEndAsync(theirSubscription)).ShouldBeFalse();
        (await StoredCancelAtPeriodEndAsync(theirSubscription)).ShouldBe(0);
        (await OkJsonAsync(await theirs.GetAsync("/api/v1/billing"))).GetProperty("subscription").GetProperty("id").GetString().ShouldBe(theirSubscription);
        // Their own resume finds nothing to resume: my cancel is not theirs.
        await ShouldBeProblemAsync(await theirs.PostAsync(ResumeUrl, null), HttpStatusCode.Conflict, "not_canceling");
        (await StripeCancelAtPeriodEndAsync(mySubscription)).ShouldBeTrue();
    }

    [Fact]
    public async Task StripeUnreachable_Answers503_AndChangesNothing_ThenTheRetryWorks()
    {
        var (_, client, subscriptionId) = await SubscriberAsync();
        app.Emulator.SetApiFaults(new ApiFaults { ServerErrorPercent = 100, Route = "POST /subscriptions/sub_" });
        try
        {
            var api = await client.PostAsync(CancelUrl, null);
            await ShouldBeProblemAsync(api, HttpStatusCode.ServiceUnavailable, "stripe_unavailable");
            api.Headers.RetryAfter.ShouldNotBeNull();
            var page = await ConfirmAsync(client, "/billing/plan/cancel");
            page.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            (await page.Content.ReadAsStringAsync()).ShouldContain("data-testid=\"stripe-unavailable\"");
        }
        finally
        {
            app.Emulator.SetApiFaults(new ApiFaults());
        }
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeFalse();
        (await StoredCancelAtPeriodEndAsync(subscriptionId)).ShouldBe(0);
        (await client.GetStringAsync("/billing")).ShouldContain("data-testid=\"cancel-plan\"");

        (await OkJsonAsync(await client.PostAsync(CancelUrl, null))).GetProperty("subscription").GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task DoubleSubmit_AndTwoTabs_MakeOneChange()
    {
        var (_, client, subscriptionId) = await SubscriberAsync();
        // Two tabs, each showing its own confirm page, pressed at once with the API; and one tab's form sent twice.
        var firstTab = await client.GetStringAsync("/billing/plan/cancel");
        var secondTab = await client.GetStringAsync("/billing/plan/cancel");
        var answers = await Task.WhenAll(
            SubmitAsync(client, "/billing/plan/cancel", firstTab),
            SubmitAsync(client, "/billing/plan/cancel", secondTab),
            SubmitAsync(client, "/billing/plan/cancel", secondTab),
            client.PostAsync(CancelUrl, null));
        answers.Take(3).ShouldAllBe(a => a.StatusCode == HttpStatusCode.Redirect);
        answers[3].StatusCode.ShouldBeOneOf(HttpStatusCode.OK, HttpStatusCode.Conflict);
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeTrue();
        await BillingTestApp.EventuallyAsync(async () => (await CancelFlagChangesAsync(subscriptionId)).Count >= 1, "the cancel's event");
        (await CancelFlagChangesAsync(subscriptionId)).Count.ShouldBe(1, "one change at Stripe");

        // The same confirmation resent after the plan was resumed is a new wish, not the old answer replayed.
        await OkJsonAsync(await client.PostAsync(ResumeUrl, null));
        var resent = await SubmitAsync(client, "/billing/plan/cancel", secondTab);
        resent.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeTrue();
        (await StoredCancelAtPeriodEndAsync(subscriptionId)).ShouldBe(1);

        // An API client's retry with the same Idempotency-Key: one change; the retry says it is already so.
        await OkJsonAsync(await client.PostAsync(ResumeUrl, null));
        using var first = new HttpRequestMessage(HttpMethod.Post, CancelUrl);
        first.Headers.Add("Idempotency-Key", "cancel-once");
        await OkJsonAsync(await client.SendAsync(first));
        using var retry = new HttpRequestMessage(HttpMethod.Post, CancelUrl);
        retry.Headers.Add("Idempotency-Key", "cancel-once");
        await ShouldBeProblemAsync(await client.SendAsync(retry), HttpStatusCode.Conflict, "already_canceling");
        using var tooLong = new HttpRequestMessage(HttpMethod.Post, ResumeUrl);
        tooLong.Headers.Add("Idempotency-Key", new string('k', 256));
        await ShouldBeProblemAsync(await client.SendAsync(tooLong), HttpStatusCode.BadRequest, "validation_failed");
        (await StripeCancelAtPeriodEndAsync(subscriptionId)).ShouldBeTrue();
    }

    [Fact]
    public async Task BundleBoughtWhileSubscribed_IsGranted_AndStaysUntouchedWhileThePlanIsWithinItsCap()
    {
        var (user, client, _) = await SubscriberAsync();
        (await client.GetStringAsync("/billing")).ShouldContain("data-testid=\"bundle-after-cap\"");
        await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "the bundle's credits granted");

        for (var i = 0; i < 3; i++)
            (await app.GenerateAsync(client, $"a kite {i}")).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await app.PrepaidAsync(user.Id)).ShouldBe(10, "the plan pays while it is within its cap");
        var balance = (await OkJsonAsync(await client.GetAsync("/api/v1/billing"))).GetProperty("balance");
        balance.GetProperty("prepaidCredits").GetInt64().ShouldBe(10);
        balance.GetProperty("planUsage").GetProperty("used").GetInt64().ShouldBe(3);
    }
}
