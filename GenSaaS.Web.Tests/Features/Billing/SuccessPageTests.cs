using System.Net;
using GenSaaS.StripeEmulator;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary><c>/billing/success?session_id=</c> asked about ids that are not the customer's own pending checkout.</summary>
[Collection(BillingCollection.Name)]
public sealed class SuccessPageTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    /// <summary>How many times Stripe (the emulator) was asked for a Checkout Session, this one or any.</summary>
    private int SessionLookups(string? id = null) =>
        app.Emulator.RecentRequests.Count(r => r.Method == "GET" && (id is null ? r.Path.StartsWith("/v1/checkout/sessions", StringComparison.Ordinal) : r.Path == $"/v1/checkout/sessions/{id}"));

    private static string SessionIdOf(string checkoutUrl) => new Uri(checkoutUrl).Segments[^1];

    [Fact]
    public async Task OwnPendingCheckout_IsLookedUp_UntilItIsComplete_ThenNoMore()
    {
        var (_, client) = await app.SignedInUserAsync();
        var url = await BillingTestApp.ChooseAsync(client, "subscription_unlimited");
        var id = SessionIdOf(url);

        var pending = await client.GetAsync($"/billing/success?session_id={id}");
        pending.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await pending.Content.ReadAsStringAsync()).ShouldContain("data-testid=\"purchase-pending\"");
        SessionLookups(id).ShouldBe(1);

        (await app.PayAsync(url, TestCard.Visa)).Completed.ShouldBeTrue();
        (await client.GetStringAsync($"/billing/success?session_id={id}")).ShouldContain("data-testid=\"purchase-confirmed\"");
        SessionLookups(id).ShouldBe(2);

        (await client.GetStringAsync($"/billing/success?session_id={id}")).ShouldContain("data-testid=\"purchase-confirmed\"");
        SessionLookups(id).ShouldBe(2);
    }

    [Fact]
    public async Task SomeoneElsesCheckout_IsNotFound_AndStripeIsNotAsked()
    {
        var (_, victim) = await app.SignedInUserAsync();
        var url = await BillingTestApp.ChooseAsync(victim, "bundle_10");
        var id = SessionIdOf(url);
        (await app.PayAsync(url, TestCard.Visa)).Completed.ShouldBeTrue();

        var (_, attacker) = await app.SignedInUserAsync();
        var before = SessionLookups(id);
        var response = await attacker.GetAsync($"/billing/success?session_id={id}");
        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        var page = await response.Content.ReadAsStringAsync();
        page.ShouldContain("data-testid=\"checkout-not-found\"");
        page.ShouldNotContain("purchase-confirmed");
        page.ShouldNotContain("hx-get");
        SessionLookups(id).ShouldBe(before);
    }

    [Theory]
    [InlineData("")]
    [InlineData("x")]
    [InlineData("cus_123")]
    [InlineData("cs_test_")]
    [InlineData("cs_test_../../v1/customers")]
    [InlineData("cs_test_abc%2F..%2F..%2Fcustomers")]
    [InlineData("cs_test_abc def ghi")]
    [InlineData("cs_prod_a1b2c3d4e5f6")]
    [InlineData("CS_TEST_a1b2c3d4e5f6")]
    [InlineData("cs_test_a1b2c3d4?expand[]=customer")]
    [InlineData("long")]
    public async Task MalformedIds_AreNotFound_WithoutAStripeCall(string id)
    {
        if (id == "long")
            id = "cs_test_" + new string('a', 5000);
        var (_, client) = await app.SignedInUserAsync();
        var before = SessionLookups();
        var response = await client.GetAsync($"/billing/success?session_id={Uri.EscapeDataString(id)}");
        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await response.Content.ReadAsStringAsync()).ShouldContain("data-testid=\"checkout-not-found\"");
        SessionLookups().ShouldBe(before);

        (await client.GetAsync("/billing/success")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        // A repeated parameter is refused before the page runs (QueryGuard), so it cannot reach Stripe either.
        (await client.GetAsync("/billing/success?session_id=a&session_id=b")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        SessionLookups().ShouldBe(before);
    }

    [Fact]
    public async Task WellFormedButUnknownIds_AreNotFound_WithoutAStripeCall()
    {
        var (_, client) = await app.SignedInUserAsync();
        var before = SessionLookups();
        foreach (var id in new[] { Ids.New("cs_test_"), "cs_live_" + Ids.Random(58) })
        {
            var response = await client.GetAsync($"/billing/success?session_id={id}");
            response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        }
        SessionLookups().ShouldBe(before);
    }

    [Fact]
    public async Task Anonymous_IsSentToSignIn_WithoutAStripeCall()
    {
        var (_, owner) = await app.SignedInUserAsync();
        var id = SessionIdOf(await BillingTestApp.ChooseAsync(owner, "bundle_10"));
        using var anonymous = app.NewClient();
        var before = SessionLookups(id);
        var response = await anonymous.GetAsync($"/billing/success?session_id={id}");
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login");
        SessionLookups(id).ShouldBe(before);
    }

    [Fact]
    public async Task ExpiredCheckout_SaysSo_AndIsNotAskedAgain()
    {
        var (_, client) = await app.SignedInUserAsync();
        var id = SessionIdOf(await BillingTestApp.ChooseAsync(client, "bundle_25"));
        await new Stripe.Checkout.SessionService(app.StripeClient).ExpireAsync(id);
        var before = SessionLookups(id);

        (await client.GetStringAsync($"/billing/success?session_id={id}")).ShouldContain("data-testid=\"purchase-expired\"");
        SessionLookups(id).ShouldBe(before + 1);
        (await client.GetStringAsync($"/billing/success?session_id={id}")).ShouldContain("data-testid=\"purchase-expired\"");
        SessionLookups(id).ShouldBe(before + 1);
    }
}
