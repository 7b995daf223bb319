using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// Stripe renders each event in its webhook endpoint's API version. Events in a version other than Stripe.net's are applied
/// from their object fetched again at the pinned version, never stored unread and answered 2xx.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class WebhookApiVersionTests
{
    private const string OtherVersion = "2024-06-20";

    private static async Task<HttpResponseMessage> DeliverAsync(BillingTestApp app, string payload, string secret)
    {
        using var client = app.NewClient();
        var header = EventUtility.GenerateSignatureHeader(payload, secret, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
        return await client.SendAsync(request);
    }

    private static Task<long> RowsAsync(BillingTestApp app, string eventId) =>
        app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE id = @eventId", new { eventId });

    private static async Task CardSavedAsync(BillingTestApp app, string userId) =>
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @userId", new { userId }) is not null, "card saved");

    [Fact]
    public async Task EventsInAnotherApiVersion_ActivateSubscriptions_ConfirmCaptures_AndTakeBackRefunds_Once()
    {
        using var app = new BillingTestApp(new() { ["Billing:Emulator:EventApiVersion"] = OtherVersion });
        var (user, client) = await app.SignedInUserAsync();

        await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription activated");

        var bundleSession = await app.BuyAsync(client, "bundle_25");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 25, "bundle credits granted");
        var session = await new Stripe.Checkout.SessionService(app.StripeClient).GetAsync(bundleSession);
        var chargeId = (await new PaymentIntentService(app.StripeClient).GetAsync(session.PaymentIntentId)).LatestChargeId;
        await new RefundService(app.StripeClient).CreateAsync(new RefundCreateOptions { Charge = chargeId, Amount = 360 });
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 15, "refund took back 10 of 25 credits");

        // A hold whose capture went through at Stripe while our process died before recording it: only the event can tell.
        await app.BuyAsync(client, "pay_per_use");
        await CardSavedAsync(app, user.Id);
        var usageId = "usage_version_" + Guid.NewGuid().ToString("N");
        await app.ExecuteAsync("""
            INSERT INTO usage (id, user_id, idempotency_key, request_hash, state, funding_source, units, period_key, created_at, updated_at)
            VALUES (@usageId, @userId, @usageId, 'h', 'succeeded', 'pay_per_use', 1, 'month:' || strftime('%Y-%m', 'now'), datetime('now'), datetime('now'))
            """, new { usageId, userId = user.Id });
        var payPerUse = app.Services.CreateScope().ServiceProvider.GetRequiredService<PayPerUse>();
        (await payPerUse.AuthorizeAsync(usageId, user.Id, 1, CancellationToken.None)).Authorized.ShouldBeTrue();
        var intentId = await app.QueryAsync<string>("SELECT payment_intent_id FROM usage_charges WHERE usage_id = @usageId", new { usageId });
        await new PaymentIntentService(app.StripeClient).CaptureAsync(intentId);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT state FROM usage_charges WHERE usage_id = @usageId", new { usageId }) == "captured", "capture confirmed by its event");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE kind = 'capture' AND payment_intent_id = @intentId", new { intentId }) == 1, "capture recorded");

        var events = await app.ListAsync<(string Id, string Type, string Status, string Version, string Payload)>(
            "SELECT id, type, status, json_extract(payload, '$.api_version'), payload FROM stripe_events");
        events.ShouldNotBeEmpty();
        events.ShouldAllBe(e => e.Version == OtherVersion);
        events.Where(e => e.Status == "failed").ShouldBeEmpty();
        var applied = events.Where(e => e.Status == "applied").Select(e => e.Type).ToHashSet();
        applied.ShouldContain("customer.subscription.created");
        applied.ShouldContain("checkout.session.completed");
        applied.ShouldContain("charge.refunded");
        applied.ShouldContain("payment_intent.succeeded");

        // The same delivery again (Stripe's retry of an event answered slowly) changes nothing.
        var refunded = events.Single(e => e.Type == "charge.refunded");
        (await DeliverAsync(app, refunded.Payload, app.Emulator.WebhookSecret)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var capture = events.Single(e => e.Type == "payment_intent.succeeded" && e.Payload.Contains(intentId, StringComparison.Ordinal));
        (await DeliverAsync(app, capture.Payload, app.Emulator.WebhookSecret)).StatusCode.ShouldBe(HttpStatusCode.OK);
        // Another event about the same refund (its id unknown here) is applied from the object, still only once.
        var again = JsonNode.Parse(refunded.Payload)!.AsObject();
        again["id"] = "evt_again_" + Guid.NewGuid().ToString("N");
        (await DeliverAsync(app, again.ToJsonString(), app.Emulator.WebhookSecret)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await app.QueryAsync<string>("SELECT status FROM stripe_events WHERE id = @id", new { id = again["id"]!.GetValue<string>() })).ShouldBe("applied");

        (await app.PrepaidAsync(user.Id)).ShouldBe(15);
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE kind = 'refund' AND charge_id = @chargeId", new { chargeId })).ShouldBe(1);
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE kind = 'capture' AND payment_intent_id = @intentId", new { intentId })).ShouldBe(1);
        (await app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE id = @id", new { id = refunded.Id })).ShouldBe(1);
    }

    [Fact]
    public async Task EventInAnotherVersion_IsReadFromStripe_NotFromItsBody_AndAForgedOneIs400()
    {
        using var app = new BillingTestApp(new() { ["Billing:Emulator:EventApiVersion"] = OtherVersion });
        var (user, client) = await app.SignedInUserAsync();
        var sessionId = await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "bundle credits granted");
        var chargeId = (await new PaymentIntentService(app.StripeClient).GetAsync(
            (await new Stripe.Checkout.SessionService(app.StripeClient).GetAsync(sessionId)).PaymentIntentId)).LatestChargeId;
        var refund = await new RefundService(app.StripeClient).CreateAsync(new RefundCreateOptions { Charge = chargeId, Amount = 200 });

        // An old-version body whose shape Stripe.net cannot read (refunds as a string, amounts that are not the charge's).
        var eventId = "evt_oldshape_" + Guid.NewGuid().ToString("N");
        var payload = new JsonObject
        {
            ["id"] = eventId,
            ["object"] = "event",
            ["api_version"] = OtherVersion,
            ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            ["livemode"] = false,
            ["type"] = "charge.refunded",
            ["data"] = new JsonObject { ["object"] = new JsonObject { ["id"] = chargeId, ["object"] = "charge", ["amount"] = "all of it", ["refunds"] = "see elsewhere" } },
        }.ToJsonString();

        (await DeliverAsync(app, payload, "whsec_" + Guid.NewGuid().ToString("N"))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await RowsAsync(app, eventId)).ShouldBe(0);

        (await DeliverAsync(app, payload, app.Emulator.WebhookSecret)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await app.QueryAsync<string>("SELECT status FROM stripe_events WHERE id = @eventId", new { eventId })).ShouldBe("applied");
        (await app.QueryAsync<long>("SELECT amount_minor FROM payments WHERE kind = 'refund' AND stripe_id = @id", new { id = refund.Id })).ShouldBe(200);
        (await app.PrepaidAsync(user.Id)).ShouldBe(5);

        (await DeliverAsync(app, payload, app.Emulator.WebhookSecret)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE type = 'charge.refunded' AND status = 'applied'") == 2, "the emulator's own event applied too");
        (await app.PrepaidAsync(user.Id)).ShouldBe(5);
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE kind = 'refund' AND charge_id = @chargeId", new { chargeId })).ShouldBe(1);
    }

    [Fact]
    public async Task ReFetchThatFails_Is503_StoresNothing_AndStripesRetryThenApplies()
    {
        await using var proxy = await StripeFaultProxy.StartAsync();
        using var app = new BillingTestApp(new() { ["Billing:EmulatorBaseUrl"] = proxy.Url });
        proxy.Target = app.BaseAddress;

        using (var dev = app.NewClient())
        {
            (await dev.PostAsync("/emulator/dev/api-version?set=not-a-version", null)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
            var set = await dev.PostAsync($"/emulator/dev/api-version?set={OtherVersion}", null);
            set.StatusCode.ShouldBe(HttpStatusCode.OK, await set.Content.ReadAsStringAsync());
        }
        app.Emulator.EventApiVersion.ShouldBe(OtherVersion);

        var (user, client) = await app.SignedInUserAsync();
        var sessionId = await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "bundle credits granted");
        var chargeId = (await new PaymentIntentService(app.StripeClient).GetAsync(
            (await new Stripe.Checkout.SessionService(app.StripeClient).GetAsync(sessionId)).PaymentIntentId)).LatestChargeId;

        proxy.Failing = true;
        await new RefundService(app.StripeClient).CreateAsync(new RefundCreateOptions { Charge = chargeId });
        string? eventId = null;
        await BillingTestApp.EventuallyAsync(async () =>
        {
            await using var connection = await app.Emulator.Store.OpenAsync();
            eventId = await connection.QueryFirstOrDefaultAsync<string?>("""
                SELECT d.event_id FROM deliveries d JOIN events e ON e.id = d.event_id
                WHERE e.type = 'charge.refunded' AND d.last_status = 503 AND d.status = 'pending'
                """);
            return eventId is not null;
        }, "the app answered the refund's event 503");
        proxy.Refused.ShouldBeGreaterThan(0);
        (await RowsAsync(app, eventId!)).ShouldBe(0);
        (await app.PrepaidAsync(user.Id)).ShouldBe(10);

        proxy.Failing = false;
        // Another event of the same refund (refund.created) may take the credits back first; this one is applied on its retry.
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 0
            && await app.QueryAsync<string?>("SELECT status FROM stripe_events WHERE id = @eventId", new { eventId }) == "applied",
            "Stripe's retry applied the event and the credits were taken back");
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE kind = 'refund' AND charge_id = @chargeId", new { chargeId })).ShouldBe(1);
    }
}
