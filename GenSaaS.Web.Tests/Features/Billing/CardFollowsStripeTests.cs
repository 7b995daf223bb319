using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using GenSaaS.StripeEmulator;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// The card the app charges per generation is the customer's default card at Stripe: changed in the portal, by a setup
/// session or detached, in any delivery order, replays included.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class CardFollowsStripeTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private const string Mastercard = "5555555555554444";

    private async Task<(Microsoft.AspNetCore.Identity.IdentityUser User, HttpClient Client, string CustomerId)> PayPerUseCustomerAsync(string card = TestCard.Visa)
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use", card);
        await CardIsAsync(user.Id, card[^4..]);
        return (user, client, await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = user.Id }));
    }

    private Task CardIsAsync(string userId, string? last4) => BillingTestApp.EventuallyAsync(async () =>
        await app.QueryAsync<string?>("SELECT card_last4 FROM billing_customers WHERE user_id = @id", new { id = userId }) == last4, $"card {last4}");

    private async Task AllEventsAppliedAsync() => await BillingTestApp.EventuallyAsync(async () =>
        await app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE status IN ('received', 'failed')") == 0, "events applied");

    private async Task<string?> StripeDefaultAsync(string customerId) =>
        (await new CustomerService(app.StripeClient).GetAsync(customerId)).InvoiceSettings?.DefaultPaymentMethodId;

    private async Task<HttpResponseMessage> DeliverAsync(string payload)
    {
        using var client = app.NewClient();
        var header = EventUtility.GenerateSignatureHeader(payload, app.Emulator.WebhookSecret, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task CardChangedInThePortal_IsTheCardCharged_AndBillingShowsIt()
    {
        var (user, client, customerId) = await PayPerUseCustomerAsync();
        await app.ChangeCardInPortalAsync(client, Mastercard);
        await CardIsAsync(user.Id, "4444");

        var page = await client.GetStringAsync("/billing");
        page.ShouldContain("mastercard ending 4444");
        page.ShouldContain($"<span data-testid=\"saved-card-expires\">12/{DateTime.UtcNow.Year + 3}</span>");

        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        var intentId = await app.QueryAsync<string>("SELECT payment_intent_id FROM usage_charges WHERE user_id = @id", new { id = user.Id });
        var intent = await new PaymentIntentService(app.StripeClient).GetAsync(intentId);
        intent.PaymentMethodId.ShouldBe(await StripeDefaultAsync(customerId));
        (await new PaymentMethodService(app.StripeClient).GetAsync(intent.PaymentMethodId)).Card.Last4.ShouldBe("4444");
    }

    [Fact]
    public async Task CardChangedToOneThatFailsEveryCharge_InThePortal_IsFollowed_402()
    {
        var (user, client, _) = await PayPerUseCustomerAsync();
        await app.ChangeCardInPortalAsync(client, TestCard.VisaDeclinedAfterAttach);
        await CardIsAsync(user.Id, "0341");
        var response = await app.GenerateAsync(client);
        response.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        (await BillingTestApp.ProblemCodeAsync(response)).ShouldBe("payment_failed");
    }

    [Fact]
    public async Task ThreeDSecureRefused_ThenCardConfirmedInThePortal_ThenGenerationIsCharged()
    {
        var (user, client, _) = await PayPerUseCustomerAsync(TestCard.VisaAuthenticationAlways);
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);

        // The customer follows the link, opens the portal and sets up a card with 3-D Secure, on session.
        await app.ChangeCardInPortalAsync(client, TestCard.VisaAuthenticationOnSetup);
        await CardIsAsync(user.Id, "3155");
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM usage_charges WHERE user_id = @id AND state = 'captured'", new { id = user.Id }) == 1, "captured");
    }

    [Fact]
    public async Task CardSavedByASetupSessionMadeOutsideTheApp_BecomesTheDefault_AndTheCardCharged()
    {
        var (user, _, customerId) = await PayPerUseCustomerAsync();
        var session = await new Stripe.Checkout.SessionService(app.StripeClient).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "setup", Customer = customerId, Currency = "usd", SuccessUrl = "https://example.com/ok", CancelUrl = "https://example.com/no",
        });
        (await app.PayAsync(session.Url, Mastercard)).Completed.ShouldBeTrue();
        await CardIsAsync(user.Id, "4444");
        var pm = await app.QueryAsync<string>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id });
        (await StripeDefaultAsync(customerId)).ShouldBe(pm);
    }

    [Fact]
    public async Task DefaultCardDetachedAtStripe_IsNoLongerCharged()
    {
        var (user, client, customerId) = await PayPerUseCustomerAsync();
        var pm = await app.QueryAsync<string>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id });
        await new PaymentMethodService(app.StripeClient).DetachAsync(pm);
        await CardIsAsync(user.Id, null);
        (await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id })).ShouldBeNull();
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        (await new PaymentIntentService(app.StripeClient).ListAsync(new PaymentIntentListOptions { Customer = customerId })).Data
            .ShouldNotContain(i => i.Status == "requires_capture" || i.Status == "succeeded");
    }

    [Fact]
    public async Task ASubscriberWhoNeverChosePayPerUse_IsNotChargedPerUse_WhenTheyChangeTheirCard()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        await app.ChangeCardInPortalAsync(client, Mastercard);
        await AllEventsAppliedAsync();
        (await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id })).ShouldBeNull();
    }

    [Fact]
    public async Task AnOlderCardEvent_DeliveredAfterANewerOne_NeverBringsTheOldCardBack()
    {
        var (user, client, customerId) = await PayPerUseCustomerAsync();
        await AllEventsAppliedAsync();
        var old = await app.ListAsync<string>(
            "SELECT payload FROM stripe_events WHERE type IN ('setup_intent.succeeded', 'payment_method.attached', 'customer.updated', 'checkout.session.completed') AND payload LIKE '%' || @customerId || '%' ORDER BY created",
            new { customerId });
        old.ShouldNotBeEmpty();

        // Stripe's clock moves on before the new card, so the old events are strictly older.
        await Task.Delay(1100);
        await app.ChangeCardInPortalAsync(client, Mastercard);
        await CardIsAsync(user.Id, "4444");
        await AllEventsAppliedAsync();
        var newDefault = await StripeDefaultAsync(customerId);

        foreach (var payload in old)
        {
            // A late copy (new event id, the old creation time and object) of each earlier card event.
            var late = JsonNode.Parse(payload)!.AsObject();
            late["id"] = "evt_late_" + Guid.NewGuid().ToString("N");
            (await DeliverAsync(late.ToJsonString())).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        await AllEventsAppliedAsync();
        (await app.QueryAsync<string?>("SELECT card_last4 FROM billing_customers WHERE user_id = @id", new { id = user.Id })).ShouldBe("4444");
        (await StripeDefaultAsync(customerId)).ShouldBe(newDefault);
    }

    [Fact]
    public async Task CardEvents_ReplayedTwiceInReverseOrder_EndInStripesState()
    {
        var (user, client, customerId) = await PayPerUseCustomerAsync();
        await Task.Delay(1100);
        await app.ChangeCardInPortalAsync(client, Mastercard);
        await CardIsAsync(user.Id, "4444");
        await AllEventsAppliedAsync();
        var events = await app.ListAsync<(string Id, string Payload)>(
            "SELECT id, payload FROM stripe_events WHERE type IN ('setup_intent.succeeded', 'payment_method.attached', 'payment_method.detached', 'customer.updated', 'checkout.session.completed') AND payload LIKE '%' || @customerId || '%' ORDER BY created DESC, received_at DESC",
            new { customerId });
        await app.ExecuteAsync("DELETE FROM stripe_events WHERE id IN (SELECT value FROM json_each(@ids))", new { ids = System.Text.Json.JsonSerializer.Serialize(events.Select(e => e.Id)) });
        await app.ExecuteAsync("DELETE FROM stripe_object_versions WHERE object_id = @key", new { key = "card:" + customerId });
        foreach (var (_, payload) in events)
        {
            (await DeliverAsync(payload)).StatusCode.ShouldBe(HttpStatusCode.OK);
            (await DeliverAsync(payload)).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        await AllEventsAppliedAsync();
        (await app.QueryAsync<string?>("SELECT card_last4 FROM billing_customers WHERE user_id = @id", new { id = user.Id })).ShouldBe("4444");
        (await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id }))
            .ShouldBe(await StripeDefaultAsync(customerId));
    }
}
