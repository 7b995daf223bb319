using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Tests.Infrastructure;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// Pay per use on a card whose bank wants 3-D Secure: the off-session hold is declined authentication_required, the customer
/// gets 402 payment_failed with a way to confirm the card in the portal, and nothing is held or charged.
/// </summary>
public sealed class PayPerUseAuthenticationTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private async Task<(Microsoft.AspNetCore.Identity.IdentityUser User, HttpClient Client)> CustomerWithSavedCardAsync(string card)
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use", card);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT card_last4 FROM billing_customers WHERE user_id = @id", new { id = user.Id }) == card[^4..], "card saved");
        return (user, client);
    }

    private async Task<List<PaymentIntent>> IntentsAsync(string userId)
    {
        var customer = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = userId });
        return (await new PaymentIntentService(app.StripeClient).ListAsync(new PaymentIntentListOptions { Customer = customer, Limit = 100 })).Data;
    }

    private async Task ShouldHaveChargedNothingAsync(string userId)
    {
        var usage = await app.ListAsync<(string State, string ChargeState, string? Reference)>(
            "SELECT u.state, c.state, c.payment_intent_id FROM usage AS u JOIN usage_charges AS c ON c.usage_id = u.id WHERE u.user_id = @id", new { id = userId });
        usage.ShouldNotBeEmpty();
        usage.ShouldAllBe(u => u.State == "released" && u.ChargeState == "failed");
        (await app.QueryAsync<long>("SELECT count(*) FROM generations WHERE user_id = @id", new { id = userId })).ShouldBe(0);
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id", new { id = userId })).ShouldBe(0);
        var intents = await IntentsAsync(userId);
        intents.Count.ShouldBe(usage.Count);
        intents.ShouldAllBe(i => i.Status == "canceled", "the declined PaymentIntent is cancelled, no hold is left");
        intents.ShouldAllBe(i => i.AmountReceived == 0);
    }

    [Fact]
    public async Task ThreeDSecureCard_Json_Is402PaymentFailed_WithALinkToConfirmTheCard_AndNothingHeld()
    {
        var (user, client) = await CustomerWithSavedCardAsync(TestCard.VisaAuthenticationAlways);

        var response = await app.GenerateAsync(client);
        response.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("code").GetString().ShouldBe("payment_failed");
        problem.GetProperty("title").GetString()!.ShouldContain("confirm your card");
        problem.GetProperty("title").GetString()!.ShouldContain("You were not charged");
        var link = problem.GetProperty("update_card_url").GetString()!;
        await ShouldHaveChargedNothingAsync(user.Id);

        // The hold was asked for card only, with no redirects, off session: the one way Stripe answers authentication_required.
        var intent = (await IntentsAsync(user.Id)).Single();
        intent.AllowedPaymentMethodTypes.ShouldBe(["card"]);
        intent.AutomaticPaymentMethods.ShouldBeNull();
        intent.LastPaymentError.Code.ShouldBe("authentication_required");
        intent.CancellationReason.ShouldBe("abandoned");

        // The link leads to the portal button.
        var page = await client.GetStringAsync(link);
        page.ShouldContain("data-testid=\"update-card-notice\"");
        page.ShouldContain("action=\"/api/billing/portal\"");
    }

    [Fact]
    public async Task ThreeDSecureCard_ReplayOfTheSameKey_AnswersTheSame402_WithoutAskingStripeAgain()
    {
        var (user, client) = await CustomerWithSavedCardAsync(TestCard.VisaAuthenticationAlways);
        async Task<HttpResponseMessage> SendAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/generations") { Content = JsonContent.Create(new { prompt = "a kite" }) };
            request.Headers.Add("Idempotency-Key", "auth-replay-1");
            return await client.SendAsync(request);
        }
        var first = await SendAsync();
        var second = await SendAsync();
        first.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        second.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        (await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("update_card_url").GetString().ShouldBe("/billing?card=update");
        (await IntentsAsync(user.Id)).Count.ShouldBe(1);
        await ShouldHaveChargedNothingAsync(user.Id);
    }

    [Fact]
    public async Task ThreeDSecureCard_DoubleClick_BothRefused_NoHoldLeft()
    {
        var (user, client) = await CustomerWithSavedCardAsync(TestCard.VisaAuthenticationAlways);
        var answers = await Task.WhenAll(app.GenerateAsync(client, "one"), app.GenerateAsync(client, "two"));
        answers.ShouldAllBe(r => r.StatusCode == HttpStatusCode.PaymentRequired);
        await ShouldHaveChargedNothingAsync(user.Id);
    }

    [Fact]
    public async Task ThreeDSecureCard_OnThePage_ShowsTheMessage_AndAButtonThatOpensThePortal()
    {
        var (user, client) = await CustomerWithSavedCardAsync(TestCard.VisaAuthenticationAlways);
        var response = await TestApp.PostFormAsync(client, "/generate",
            new() { ["Input.Prompt"] = "a kite", ["Input.IdempotencyKey"] = "page-3ds" }, new() { ["HX-Request"] = "true" });
        response.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        var html = await response.Content.ReadAsStringAsync();
        html.ShouldContain("data-testid=\"generation-error\"");
        html.ShouldContain("confirm your card");
        html.ShouldContain("action=\"/api/billing/portal\"");
        // Only the result area: the decline moved no credits and made no image, and site.js would paste anything else into it.
        html.Trim().ShouldStartWith("<div class=\"alert error\" data-testid=\"generation-error\"");
        foreach (var elsewhere in new[] { "hx-swap-oob", "account-status", "generation-history", "Input.IdempotencyKey" })
            html.ShouldNotContain(elsewhere, Case.Sensitive, $"the decline fragment repeats '{elsewhere}'");
        response.Headers.GetValues("HX-Trigger").Single().ShouldContain("gensaas:idempotency-key");
        await ShouldHaveChargedNothingAsync(user.Id);

        // The button posts (with its antiforgery token) to the portal, which opens on Stripe's side.
        var token = TestApp.AntiforgeryToken(html);
        var portal = await client.PostAsync("/api/billing/portal", new FormUrlEncodedContent([new("__RequestVerificationToken", token)]));
        portal.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        portal.Headers.Location!.ToString().ShouldContain("/emulator/portal/bps_");
    }

    [Fact]
    public async Task CardSetUpWithAuthentication_3155_IsChargedOffSessionWithoutAskingAgain()
    {
        var (user, client) = await CustomerWithSavedCardAsync(TestCard.VisaAuthenticationOnSetup);
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT state FROM usage_charges WHERE user_id = @id", new { id = user.Id }) == "captured", "captured");
    }

    [Fact]
    public async Task ThreeDSecureStepFailed_AtCheckout_SavesNoCard()
    {
        var (user, client) = await app.SignedInUserAsync();
        var url = await BillingTestApp.ChooseAsync(client, "pay_per_use");
        var outcome = await app.PayAsync(url, TestCard.VisaAuthenticationAlways, authentication: "fail");
        outcome.Completed.ShouldBeFalse();
        outcome.Error.ShouldBe(EmulatedStripe.AuthenticationFailedMessage);
        (await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id })).ShouldBeNull();
    }
}
