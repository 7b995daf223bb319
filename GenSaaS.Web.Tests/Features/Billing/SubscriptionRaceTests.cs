using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Billing.Webhooks;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// A subscription event whose read of Stripe was answered before a change the app made (cancel at period end) and stored
/// after it: its event time does not order it (the same second as the change, or a second ahead on another Stripe clock),
/// so the app must not let it overwrite the change. The emulator holds the webhook's read until the change is stored.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class SubscriptionRaceTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private const string CancelUrl = "/api/v1/billing/subscription/cancel";
    private const string ResumeUrl = "/api/v1/billing/subscription/resume";

    private Task<long> StoredCancelAtPeriodEndAsync(string subscriptionId) =>
        app.QueryAsync<long>("SELECT cancel_at_period_end FROM subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId });

    private int SubscriptionReads(string subscriptionId) =>
        app.Emulator.RecentRequests.Count(r => r.Method == "GET" && r.Path == $"/v1/subscriptions/{subscriptionId}" && r.Status != 0);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task StaleSubscriptionEvent_ReadBeforeTheChange_StoredAfterIt_DoesNotUndoTheChange(bool cancel)
    {
        var (_, client, subscriptionId) = await app.SubscribedUserAsync();
        if (!cancel)
            (await client.PostAsync(CancelUrl, null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await AllDeliveredAsync();
        var staleCancelFlag = !cancel;
        (await StoredCancelAtPeriodEndAsync(subscriptionId)).ShouldBe(staleCancelFlag ? 1 : 0);

        // customer.subscription.updated stamped a second ahead of now: its read of the subscription is held at Stripe until the customer's change is stored.
        var stale = SubscriptionUpdated(await RawAsync($"/v1/subscriptions/{subscriptionId}"), DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 30);
        var readsBefore = SubscriptionReads(subscriptionId);
        app.Emulator.SetApiFaults(new ApiFaults { TimeoutPercent = 100, HoldSeconds = 3, Route = $"GET /subscriptions/{subscriptionId}", Limit = 1 });
        try
        {
            var delivery = app.DeliverSignedAsync(stale);
            await BillingTestApp.EventuallyAsync(() => Task.FromResult(app.Emulator.RecentRequests.Any(r =>
                r.Method == "GET" && r.Path == $"/v1/subscriptions/{subscriptionId}" && r.Status == 0)), "the webhook's read of the subscription answered and held");

            var changed = await client.PostAsync(cancel ? CancelUrl : ResumeUrl, null);
            changed.StatusCode.ShouldBe(HttpStatusCode.OK, await changed.Content.ReadAsStringAsync());
            (await StoredCancelAtPeriodEndAsync(subscriptionId)).ShouldBe(cancel ? 1 : 0, "the change is stored at once");
            await delivery;
        }
        finally
        {
            app.Emulator.SetApiFaults(new ApiFaults());
        }
        (await new SubscriptionService(app.StripeClient).GetAsync(subscriptionId)).CancelAtPeriodEnd.ShouldBe(cancel);
        (await StoredCancelAtPeriodEndAsync(subscriptionId)).ShouldBe(cancel ? 1 : 0, "the stale read must not overwrite the customer's change");
        var billing = await client.GetFromJsonAsync<JsonElement>("/api/v1/billing");
        billing.GetProperty("subscription").GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBe(cancel);
        (await app.QueryAsync<string>("SELECT status FROM stripe_events WHERE id = @id", new { id = JsonNode.Parse(stale)!["id"]!.GetValue<string>() })).ShouldBe("applied");
        // The stale delivery read Stripe a second time, after the change was stored.
        (SubscriptionReads(subscriptionId) - readsBefore).ShouldBeGreaterThanOrEqualTo(3);
    }

    [Fact]
    public async Task SubscriptionEvents_WithoutARace_ReadStripeOncePerEvent()
    {
        var (_, client, subscriptionId) = await app.SubscribedUserAsync();
        await AllDeliveredAsync();
        var updated = SubscriptionUpdated(await RawAsync($"/v1/subscriptions/{subscriptionId}"), DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var readsBefore = SubscriptionReads(subscriptionId);
        await app.DeliverSignedAsync(updated);
        (SubscriptionReads(subscriptionId) - readsBefore).ShouldBe(1);
        (await client.GetFromJsonAsync<JsonElement>("/api/v1/billing")).GetProperty("subscription").GetProperty("status").GetString().ShouldBe("active");
    }

    /// <summary>Waits until every event the emulator made that the app handles is stored by the app: no delivery is still on its way.</summary>
    private async Task AllDeliveredAsync()
    {
        await BillingTestApp.EventuallyAsync(async () =>
        {
            var ids = (await new EventService(app.StripeClient).ListAsync(new EventListOptions { Limit = 100 })).Data
                .Where(e => StripeEventApplier.HandledEvents.Contains(e.Type)).Select(e => e.Id).ToList();
            var stored = await app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE id IN @ids AND status IN ('applied', 'ignored')", new { ids });
            return stored == ids.Count;
        }, "every event delivered and applied");
    }

    private async Task<JsonObject> RawAsync(string path)
    {
        using var http = app.NewClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.Emulator.SecretKey);
        return JsonNode.Parse(await http.GetStringAsync("/emulator/stripe" + path))!.AsObject();
    }

    private static string SubscriptionUpdated(JsonObject subscription, long created) => BillingTestApp.EventJson("customer.subscription.updated", subscription, created);
}
