using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Tests.Infrastructure;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>The webhook endpoint: signatures, storing each event once, idempotent handlers in any order, retries of a failed apply.</summary>
[Collection(BillingCollection.Name)]
public sealed class BillingWebhookTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private static string Event(string type, JsonObject obj, long? created = null, string? id = null) => BillingTestApp.EventJson(type, obj, created, id);

    private static JsonObject PaidBundleSession(string customerId, string? userId = null) => BillingTestApp.PaidBundleSession(customerId, userId);

    private async Task<HttpResponseMessage> DeliverAsync(string payload, string? secret = null, DateTimeOffset? at = null)
    {
        using var client = app.NewClient();
        var header = EventUtility.GenerateSignatureHeader(payload, secret ?? app.Emulator.WebhookSecret, (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
        return await client.SendAsync(request);
    }

    private Task<long> StoredAsync(string eventId) => app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE id = @eventId", new { eventId });

    [Fact]
    public async Task ForgedTamperedAndExpiredSignatures_Are400_AndStoreNothing()
    {
        var user = await app.CreateUserAsync($"sig-{Guid.NewGuid():N}@example.com");
        var payload = Event("checkout.session.completed", PaidBundleSession("cus_sig", user.Id), id: "evt_sig_" + Guid.NewGuid().ToString("N"));
        var eventId = JsonNode.Parse(payload)!["id"]!.GetValue<string>();

        (await DeliverAsync(payload, secret: "whsec_" + Guid.NewGuid().ToString("N"))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        using (var client = app.NewClient())
        {
            var header = EventUtility.GenerateSignatureHeader(payload, app.Emulator.WebhookSecret, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            var tampered = payload.Replace("\"amount_total\":400", "\"amount_total\":1", StringComparison.Ordinal);
            tampered.ShouldNotBe(payload);
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new StringContent(tampered, Encoding.UTF8, "application/json") };
            request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
            (await client.SendAsync(request)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
            (await client.PostAsync("/api/billing/webhook", new StringContent(payload, Encoding.UTF8, "application/json"))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        }

        (await DeliverAsync(payload, at: DateTimeOffset.UtcNow.AddMinutes(-10))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        (await StoredAsync(eventId)).ShouldBe(0);
        (await app.PrepaidAsync(user.Id)).ShouldBe(0);

        (await DeliverAsync(payload)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await DeliverAsync(payload)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await StoredAsync(eventId)).ShouldBe(1);
        (await app.PrepaidAsync(user.Id)).ShouldBe(10);
    }

    [Fact]
    public async Task EveryHandledEvent_DeliveredTwiceInReverseOrder_GivesTheSameFinalState()
    {
        var (user, client) = await app.SignedInUserAsync();
        var bundleSession = await app.BuyAsync(client, "bundle_25");
        await app.BuyAsync(client, "pay_per_use");
        await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 25, "bundle credits");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT card_last4 FROM billing_customers WHERE user_id = @id", new { id = user.Id }) == "4242", "card");

        var session = await new Stripe.Checkout.SessionService(app.StripeClient).GetAsync(bundleSession);
        var chargeId = (await new PaymentIntentService(app.StripeClient).GetAsync(session.PaymentIntentId)).LatestChargeId;
        await new RefundService(app.StripeClient).CreateAsync(new RefundCreateOptions { Charge = chargeId, Amount = 360 });
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 15, "refund took back 10 of 25 credits");
        var subscriptionId = await app.QueryAsync<string>("SELECT stripe_subscription_id FROM subscriptions WHERE user_id = @id", new { id = user.Id });
        await new SubscriptionService(app.StripeClient).UpdateAsync(subscriptionId, new SubscriptionUpdateOptions { CancelAtPeriodEnd = true });
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT cancel_at_period_end FROM subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId }) == 1, "cancel at period end");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE status IN ('received', 'failed')") == 0
            && await app.QueryAsync<long>("SELECT count(*) FROM stripe_events") > 10, "every event applied", 20);
        await Task.Delay(1500);

        var before = await SnapshotAsync(user.Id);
        var events = await app.ListAsync<(string Id, string Type, string Payload)>(
            "SELECT id, type, payload FROM stripe_events WHERE status = 'applied' ORDER BY created DESC, received_at DESC");
        var handled = events.Select(e => e.Type).Distinct().ToList();
        handled.ShouldContain("checkout.session.completed");
        handled.ShouldContain("invoice.paid");
        handled.ShouldContain("customer.subscription.updated");
        handled.ShouldContain("payment_intent.succeeded");
        handled.ShouldContain("charge.refunded");

        // Forget the ids so only the handlers' own idempotency (by Stripe object id) stands between a replay and double effects.
        await app.ExecuteAsync("DELETE FROM stripe_events");
        foreach (var (_, _, payload) in events)
        {
            (await DeliverAsync(payload)).StatusCode.ShouldBe(HttpStatusCode.OK);
            (await DeliverAsync(payload)).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        (await app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE status = 'failed'")).ShouldBe(0);

        (await SnapshotAsync(user.Id)).ShouldBe(before);
        (await app.PrepaidAsync(user.Id)).ShouldBe(15);
        (await app.SubscriptionStatusAsync(user.Id)).ShouldBe("active");
    }

    private async Task<string> SnapshotAsync(string userId)
    {
        var parts = new List<string>();
        parts.AddRange(await app.ListAsync<string>(
            "SELECT trial_balance || '/' || prepaid_balance FROM credit_balances WHERE user_id = @userId", new { userId }));
        parts.AddRange(await app.ListAsync<string>(
            "SELECT kind || ' ' || amount || ' ' || coalesce(reference, '') FROM credit_ledger WHERE user_id = @userId ORDER BY id", new { userId }));
        parts.AddRange(await app.ListAsync<string>(
            "SELECT stripe_subscription_id || ' ' || status || ' ' || coalesce(current_period_end, '') || ' ' || cancel_at_period_end FROM subscriptions WHERE user_id = @userId", new { userId }));
        parts.AddRange(await app.ListAsync<string>(
            "SELECT coalesce(default_payment_method, '') || ' ' || coalesce(card_last4, '') FROM billing_customers WHERE user_id = @userId", new { userId }));
        parts.AddRange(await app.ListAsync<string>(
            "SELECT kind || ' ' || stripe_id || ' ' || amount_minor || ' ' || status || ' ' || coalesce(credits, '') FROM payments WHERE user_id = @userId ORDER BY kind, stripe_id", new { userId }));
        parts.AddRange(await app.ListAsync<string>(
            "SELECT u.id || ' ' || u.state || ' ' || coalesce(c.state, '') FROM usage AS u LEFT JOIN usage_charges AS c ON c.usage_id = u.id WHERE u.user_id = @userId ORDER BY u.id", new { userId }));
        return string.Join("\n", parts);
    }

    [Fact]
    public async Task AnEventThatFailsToApply_IsRetriedInTheBackground_AndSucceedsOnceItCan()
    {
        var user = await app.CreateUserAsync($"retry-{Guid.NewGuid():N}@example.com");
        var customerId = "cus_later_" + Guid.NewGuid().ToString("N")[..12];
        var payload = Event("checkout.session.completed", PaidBundleSession(customerId));
        var eventId = JsonNode.Parse(payload)!["id"]!.GetValue<string>();

        (await DeliverAsync(payload)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var failed = await app.QueryAsync<(string Status, long Attempts, string LastError)>(
            "SELECT status, attempts, last_error FROM stripe_events WHERE id = @eventId", new { eventId });
        failed.Status.ShouldBe("failed");
        failed.Attempts.ShouldBe(1);
        failed.LastError.ShouldContain(customerId);

        var (_, admin) = await app.SignedInUserAsync(admin: true);
        var list = await admin.GetStringAsync("/admin/billing/events?status=failed");
        list.ShouldContain(eventId);
        (await (await app.SignedInUserAsync()).Client.GetAsync("/admin/billing/events")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        // The customer row arrives (as when checkout's own write lands after Stripe's webhook).
        await app.ExecuteAsync("INSERT INTO billing_customers (user_id, stripe_customer_id, updated_at) VALUES (@userId, @customerId, '2026-01-01 00:00:00')",
            new { userId = user.Id, customerId });
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string>("SELECT status FROM stripe_events WHERE id = @eventId", new { eventId }) == "applied", "retry applied the event",
            seconds: 90);
        (await app.PrepaidAsync(user.Id)).ShouldBe(10);
        (await app.QueryAsync<long>("SELECT attempts FROM stripe_events WHERE id = @eventId", new { eventId })).ShouldBeGreaterThan(1);
    }

    [Fact]
    public async Task Admin_ReplaysAFailedEvent_ByHand()
    {
        var user = await app.CreateUserAsync($"replay-{Guid.NewGuid():N}@example.com");
        var customerId = "cus_replay_" + Guid.NewGuid().ToString("N")[..12];
        var payload = Event("checkout.session.completed", PaidBundleSession(customerId));
        var eventId = JsonNode.Parse(payload)!["id"]!.GetValue<string>();
        (await DeliverAsync(payload)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await app.ExecuteAsync("UPDATE stripe_events SET last_error = 'held for the replay test' WHERE id = @eventId", new { eventId });

        // The admin opens the failed event (it stays failed until the customer row exists, whatever its retries do).
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        (await admin.GetStringAsync("/admin/billing/events?failed=true")).ShouldContain($"data-testid=\"replay-{eventId}\"");
        var page = await admin.GetStringAsync($"/admin/billing/events/{eventId}");
        var form = new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(page),
            ["Replay.Token"] = System.Text.RegularExpressions.Regex.Match(page, "name=\"Replay\\.Token\"[^>]*value=\"([0-9a-f]{32})\"").Groups[1].Value,
            ["Replay.Reason"] = "the customer row arrived",
        };
        form["Replay.Token"].ShouldNotBeEmpty();
        await app.ExecuteAsync("INSERT INTO billing_customers (user_id, stripe_customer_id, updated_at) VALUES (@userId, @customerId, '2026-01-01 00:00:00')",
            new { userId = user.Id, customerId });
        var response = await admin.PostAsync($"/admin/billing/events/{eventId}?handler=Replay", new FormUrlEncodedContent(form));
        // Its retry schedule (first retry after 2 s) may apply it first: the replay is then refused, as for any event not failed.
        response.StatusCode.ShouldBeOneOf(HttpStatusCode.Redirect, HttpStatusCode.Conflict);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string>("SELECT status FROM stripe_events WHERE id = @eventId", new { eventId }) == "applied", "replayed");
        (await app.PrepaidAsync(user.Id)).ShouldBe(10);
    }

    [Fact]
    public async Task AnOlderSubscriptionEvent_NeverOverwritesNewerState()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription");
        var subscriptionId = await app.QueryAsync<string>("SELECT stripe_subscription_id FROM subscriptions WHERE user_id = @id", new { id = user.Id });
        await new SubscriptionService(app.StripeClient).UpdateAsync(subscriptionId, new SubscriptionUpdateOptions { CancelAtPeriodEnd = true });
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT cancel_at_period_end FROM subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId }) == 1, "update applied");
        var lastApplied = await app.QueryAsync<long>("SELECT last_event_created FROM subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId });

        var stale = Event("customer.subscription.updated", new JsonObject
        {
            ["id"] = subscriptionId, ["object"] = "subscription", ["status"] = "active", ["cancel_at_period_end"] = false,
        }, created: lastApplied - 3600);
        (await DeliverAsync(stale)).StatusCode.ShouldBe(HttpStatusCode.OK);
        // A genuine later event of the emulator's may still land meanwhile (its time is newer); the stale one's never does.
        (await app.QueryAsync<long>("SELECT last_event_created FROM subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId })).ShouldBeGreaterThanOrEqualTo(lastApplied);
        (await app.QueryAsync<long>("SELECT cancel_at_period_end FROM subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId })).ShouldBe(1);
    }
}

/// <summary>The emulator delivering every event twice and out of order, as Stripe may.</summary>
[Collection(BillingCollection.Name)]
public sealed class BillingDeliveryFaultTests() : IDisposable
{
    private readonly BillingTestApp _app = new(new Dictionary<string, string?> { ["Billing:Emulator:Faults"] = "Duplicate, Shuffle" });

    [Fact]
    public async Task WithDuplicatedAndShuffledDelivery_CreditsAreGrantedOnce_AndTheSubscriptionEndsActive()
    {
        var (user, client) = await _app.SignedInUserAsync();
        await _app.BuyAsync(client, "bundle_10");
        await _app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await _app.PrepaidAsync(user.Id) == 10, "credits");
        await BillingTestApp.EventuallyAsync(async () => await _app.SubscriptionStatusAsync(user.Id) == "active", "subscription");
        await Task.Delay(3000);
        (await _app.PrepaidAsync(user.Id)).ShouldBe(10);
        (await _app.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE user_id = @id AND kind = 'grant'", new { id = user.Id })).ShouldBe(1);
        (await _app.SubscriptionStatusAsync(user.Id)).ShouldBe("active");
        (await _app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE status = 'failed'")).ShouldBe(0);
    }

    public void Dispose() => _app.Dispose();
}
