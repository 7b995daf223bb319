using System.Net;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>When Stripe's webhooks do not arrive at all, the success page's own fulfilment still applies the purchase, once.</summary>
[Collection(BillingCollection.Name)]
public sealed class BillingWithoutWebhooksTests
{
    [Fact]
    public async Task SuccessPage_FulfilsTheBundleItself_AndVisitingTwiceGrantsOnce()
    {
        // Webhooks go to a port nobody listens on.
        using var app = new BillingTestApp(new() { ["Billing:Emulator:WebhookUrl"] = "http://127.0.0.1:9/api/billing/webhook" });
        var (user, client) = await app.SignedInUserAsync();
        var url = await BillingTestApp.ChooseAsync(client, "bundle_25");
        var outcome = await app.PayAsync(url, GenSaaS.StripeEmulator.TestCard.Visa);
        outcome.Completed.ShouldBeTrue(outcome.Error);
        await Task.Delay(500);
        (await app.PrepaidAsync(user.Id)).ShouldBe(0);

        var successPath = new Uri(outcome.RedirectUrl!).PathAndQuery;
        var first = await client.GetStringAsync(successPath);
        first.ShouldContain("data-testid=\"purchase-confirmed\"");
        first.ShouldContain("data-testid=\"credits-remaining\">25<");
        (await client.GetAsync(successPath)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await app.PrepaidAsync(user.Id)).ShouldBe(25);
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'bundle'", new { id = user.Id })).ShouldBe(1);

        var (_, stranger) = await app.SignedInUserAsync();
        var strangers = await stranger.GetAsync(successPath);
        strangers.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await strangers.Content.ReadAsStringAsync()).ShouldNotContain("data-testid=\"purchase-confirmed\"");
    }

    [Fact]
    public async Task ReturnFromThePortal_ShowsTheNewCardAtOnce_AndItIsTheCardCharged()
    {
        using var app = new BillingTestApp(new() { ["Billing:Emulator:WebhookUrl"] = "http://127.0.0.1:9/api/billing/webhook" });
        var (user, client) = await app.SignedInUserAsync();
        var url = await BillingTestApp.ChooseAsync(client, "pay_per_use");
        var outcome = await app.PayAsync(url, GenSaaS.StripeEmulator.TestCard.Visa);
        outcome.Completed.ShouldBeTrue(outcome.Error);
        (await client.GetStringAsync(new Uri(outcome.RedirectUrl!).PathAndQuery)).ShouldContain("visa ending 4242");

        await app.ChangeCardInPortalAsync(client, "5555555555554444");
        (await client.GetStringAsync("/billing")).ShouldContain("visa ending 4242", customMessage: "no webhook arrived and the customer has not come back yet");
        var page = await client.GetStringAsync("/billing?from=portal");
        page.ShouldContain("mastercard ending 4444");
        (await app.QueryAsync<string?>("SELECT card_last4 FROM billing_customers WHERE user_id = @id", new { id = user.Id })).ShouldBe("4444");
    }
}
