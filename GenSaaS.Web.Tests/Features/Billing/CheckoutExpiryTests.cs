using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using GenSaaS.StripeEmulator;
using Stripe;
using Stripe.Checkout;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// <c>checkout.session.expired</c>: a customer opens Checkout and leaves; Stripe expires the session (24 h by default, or
/// <c>POST /v1/checkout/sessions/{id}/expire</c>) and says so. The app marks its row expired, records and grants nothing,
/// and the next purchase or subscription goes through; a late, replayed or forged expired event never undoes a purchase.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class CheckoutExpiryTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private Task<string?> StateAsync(string sessionId) =>
        app.QueryAsync<string?>("SELECT status FROM checkout_sessions WHERE id = @sessionId", new { sessionId });

    private Task<string?> ExpiredEventStatusAsync(string sessionId) =>
        app.QueryAsync<string?>("SELECT status FROM stripe_events WHERE type = 'checkout.session.expired' AND object_id = @sessionId", new { sessionId });

    private Task<long> PaymentRowsAsync(string userId) =>
        app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @userId", new { userId });

    [Fact]
    public async Task BundleCheckoutAbandoned_StripeExpiresIt_MarkedExpired_NothingRecorded_AndBuyingAgainWorks()
    {
        var (user, client) = await app.SignedInUserAsync();
        var abandoned = new Uri(await BillingTestApp.ChooseAsync(client, "bundle_10")).Segments[^1];
        (await StateAsync(abandoned)).ShouldBe("pending");

        var sessions = new SessionService(app.StripeClient);
        (await sessions.ExpireAsync(abandoned)).Status.ShouldBe("expired");
        await BillingTestApp.EventuallyAsync(async () => await StateAsync(abandoned) == "expired", "the abandoned session marked expired");
        (await ExpiredEventStatusAsync(abandoned)).ShouldBe("applied");
        (await PaymentRowsAsync(user.Id)).ShouldBe(0, "nothing was paid, so nothing is listed");
        (await app.PrepaidAsync(user.Id)).ShouldBe(0);

        // Stripe expires only an open session, in its words.
        var again = await Should.ThrowAsync<StripeException>(() => sessions.ExpireAsync(abandoned));
        again.StripeError.Type.ShouldBe("invalid_request_error");
        again.StripeError.Message.ShouldBe("Only Checkout Sessions with a status of `open` can be expired. This Checkout Session has a status of `expired`.");

        // The success page answers from the row; the customer buys again.
        (await client.GetStringAsync($"/billing/success?session_id={abandoned}")).ShouldContain("data-testid=\"purchase-expired\"");
        var bought = await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "10 credits from the second checkout");
        await BillingTestApp.EventuallyAsync(async () => await StateAsync(bought) == "complete", "the paid session marked complete by its webhook");
        (await StateAsync(abandoned)).ShouldBe("expired");
    }

    [Fact]
    public async Task SubscriptionCheckoutAbandoned_ExpiresAfter24Hours_AndSubscribingAgainWorks()
    {
        var (user, client) = await app.SignedInUserAsync();
        var abandoned = new Uri(await BillingTestApp.ChooseAsync(client, "subscription_unlimited")).Segments[^1];

        await app.AdvanceClockAsync(1.01);
        (await new SessionService(app.StripeClient).GetAsync(abandoned)).Status.ShouldBe("expired", "Stripe expires a session at its expires_at");
        await BillingTestApp.EventuallyAsync(async () => await StateAsync(abandoned) == "expired", "the abandoned subscription checkout marked expired");
        (await app.SubscriptionStatusAsync(user.Id)).ShouldBeNull();

        var paid = await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscribed on the second checkout");
        await BillingTestApp.EventuallyAsync(async () => await StateAsync(paid) == "complete", "the paid session marked complete");
    }

    [Fact]
    public async Task ExpiredEvent_LateReplayedOrForged_NeverUndoesACompletedPurchase()
    {
        var (user, client) = await app.SignedInUserAsync();
        // Two tabs: the second subscription checkout expires the first at Stripe; the customer pays the second.
        var first = await OpenAsync(client, "subscription_unlimited");
        var second = await OpenAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await StateAsync(first) == "expired", "the older tab's session expired");
        (await app.PayAsync((await new SessionService(app.StripeClient).GetAsync(second)).Url, TestCard.Visa)).Completed.ShouldBeTrue();
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active" && await StateAsync(second) == "complete",
            "subscribed, the paid session complete");

        // The older tab's expired event arrives again, late: once as Stripe's replay (same id), once as a new event.
        var delivered = (await new EventService(app.StripeClient).ListAsync(new EventListOptions { Type = "checkout.session.expired", Limit = 100 })).Data
            .Single(e => ((Session)e.Data.Object).Id == first);
        await app.DeliverSignedAsync(delivered.RawJsonElement!.Value.GetRawText());
        await app.DeliverSignedAsync(ExpiredEvent(await RawSessionAsync(first)));

        // A forged expired event for the paid session (no Stripe sends it: a session is complete or expired, never both).
        var forged = await RawSessionAsync(second);
        forged["status"] = "expired";
        forged["url"] = null;
        var forgedEvent = ExpiredEvent(forged);
        await app.DeliverSignedAsync(forgedEvent);
        await app.DeliverSignedAsync(forgedEvent);

        (await StateAsync(first)).ShouldBe("expired");
        (await StateAsync(second)).ShouldBe("complete");
        (await app.SubscriptionStatusAsync(user.Id)).ShouldBe("active");
        (await app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE type = 'checkout.session.expired' AND status = 'failed'")).ShouldBe(0);
        (await app.QueryAsync<long>("SELECT attempts FROM stripe_events WHERE id = @id", new { id = delivered.Id })).ShouldBe(1, "the replay was answered as a duplicate");

        // An expired event of a session this app never started (another integration on the account) changes nothing and does not fail.
        var stranger = await RawSessionAsync(first);
        stranger["id"] = "cs_test_" + Guid.NewGuid().ToString("N");
        await app.DeliverSignedAsync(ExpiredEvent(stranger));
        (await app.QueryAsync<string>("SELECT status FROM stripe_events WHERE object_id = @id", new { id = stranger["id"]!.GetValue<string>() })).ShouldBe("applied");
    }

    [Fact]
    public async Task CompletedBundle_ThenAForgedExpiredEvent_KeepsCreditsAndThePaidRow()
    {
        var (user, client) = await app.SignedInUserAsync();
        var bought = await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10 && await StateAsync(bought) == "complete", "bundle bought");
        var session = await RawSessionAsync(bought);
        session["status"] = "expired";
        await app.DeliverSignedAsync(ExpiredEvent(session));

        (await StateAsync(bought)).ShouldBe("complete");
        (await app.PrepaidAsync(user.Id)).ShouldBe(10);
        (await app.QueryAsync<string>("SELECT status FROM payments WHERE kind = 'bundle' AND stripe_id = @bought", new { bought })).ShouldBe("paid");
    }

    private static async Task<string> OpenAsync(HttpClient client, string plan)
    {
        var response = await client.PostAsJsonAsync("/api/billing/checkout", new { plan });
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    /// <summary>The session as Stripe's API renders it (what an event's <c>data.object</c> holds).</summary>
    private async Task<JsonObject> RawSessionAsync(string id)
    {
        using var http = app.NewClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.Emulator.SecretKey);
        var json = await http.GetStringAsync($"/emulator/stripe/v1/checkout/sessions/{id}");
        return JsonNode.Parse(json)!.AsObject();
    }

    private static string ExpiredEvent(JsonObject session) => BillingTestApp.EventJson("checkout.session.expired", session);
}
