using System.Net;
using System.Text.Json;
using GenSaaS.Web.Tests.Infrastructure;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// The customer's monthly cap on pay-per-use spend, over real HTTP: set on /billing, checked in the reservation's write
/// transaction, and counted against what the emulator actually holds and captures. Pay per use costs 0.50 USD here.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class SpendCapTests
{
    private const long Price = 50;

    private static async Task<HttpResponseMessage> SetCapAsync(HttpClient client, string value)
    {
        var token = TestApp.AntiforgeryToken(await client.GetStringAsync("/billing"));
        var form = new Dictionary<string, string> { ["Input.SpendCap"] = value, ["__RequestVerificationToken"] = token };
        return await client.PostAsync("/billing?handler=SpendCap", new FormUrlEncodedContent(form));
    }

    private static async Task<(BillingTestApp App, string UserId, HttpClient Client)> PayPerUseCustomerAsync(BillingTestApp app)
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id }) is not null, "card saved");
        return (app, user.Id, client);
    }

    private static async Task<List<PaymentIntent>> IntentsAsync(BillingTestApp app, string userId)
    {
        var customer = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = userId });
        return (await new PaymentIntentService(app.StripeClient).ListAsync(new PaymentIntentListOptions { Customer = customer, Limit = 100 })).Data;
    }

    private static long HeldOrCaptured(IEnumerable<PaymentIntent> intents) =>
        intents.Where(i => i.Status is "requires_capture" or "succeeded").Sum(i => i.Status == "succeeded" ? i.AmountReceived : i.Amount);

    private static async Task<JsonElement> MeAsync(HttpClient client) =>
        JsonDocument.Parse(await client.GetStringAsync("/api/v1/me")).RootElement.GetProperty("spendCap");

    [Fact]
    public async Task Cap_AllowsSpendUpToExactlyTheCap_RefusesTheNextWith402_AndPlacesNoHold()
    {
        using var billing = new BillingTestApp();
        var (app, userId, client) = await PayPerUseCustomerAsync(billing);

        (await SetCapAsync(client, "1.50")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var me = await MeAsync(client);
        me.GetProperty("capMinor").GetInt64().ShouldBe(150);
        me.GetProperty("currency").GetString().ShouldBe("usd");

        for (var i = 0; i < 3; i++)
            (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created, $"generation {i + 1} of 3 brings the spend to {(i + 1) * Price}, within the cap of 150");

        var refused = await app.GenerateAsync(client);
        refused.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        var body = await refused.Content.ReadAsStringAsync();
        JsonDocument.Parse(body).RootElement.GetProperty("code").GetString().ShouldBe("spend_limit_reached");
        body.ShouldContain("1.50 USD");
        var now = DateTime.UtcNow;
        body.ShouldContain(new DateTime(now.Year, now.Month, 1).AddMonths(1).ToString("yyyy-MM-dd"));

        (await IntentsAsync(app, userId)).Count.ShouldBe(3, "a capped generation creates no PaymentIntent");
        (await app.QueryAsync<long>("SELECT count(*) FROM usage_charges WHERE user_id = @id", new { id = userId })).ShouldBe(3);
        (await MeAsync(client)).GetProperty("spentThisMonthMinor").GetInt64().ShouldBe(3 * Price);
        // /billing says what the ledger will do with the next image: nothing pays until the cap moves or the month turns.
        var capped = await client.GetStringAsync("/billing");
        capped.ShouldContain("has reached your cap of 1.50 USD");
        capped.ShouldNotContain("per image, starting with your next one");

        // Cleared: pay per use goes on.
        (await SetCapAsync(client, "")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await MeAsync(client)).GetProperty("capMinor").ValueKind.ShouldBe(JsonValueKind.Null);
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);

        // Spent 200 now: one cent short of room refuses, exact room allows.
        (await SetCapAsync(client, "2.49")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await BillingTestApp.ProblemCodeAsync(await app.GenerateAsync(client))).ShouldBe("spend_limit_reached");
        (await SetCapAsync(client, "2.50")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await BillingTestApp.ProblemCodeAsync(await app.GenerateAsync(client))).ShouldBe("spend_limit_reached");

        await BillingTestApp.EventuallyAsync(async () => HeldOrCaptured(await IntentsAsync(app, userId)) == 5 * Price && (await IntentsAsync(app, userId)).All(i => i.Status == "succeeded"),
            "the five generations captured");
        var page = await client.GetStringAsync("/billing");
        page.ShouldContain("has reached your cap of 2.50 USD");
        (await SetCapAsync(client, "3.00")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await client.GetStringAsync("/billing")).ShouldContain("per image, starting with your next one");
        (await SetCapAsync(client, "2.50")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        page = await client.GetStringAsync("/billing");
        page.ShouldContain("data-testid=\"spend-cap-amount\">2.50 USD");
        page.ShouldContain("data-testid=\"spend-this-month\">2.50 USD");
    }

    [Fact]
    public async Task ConcurrentGenerations_NeverTakeTheHeldAndCapturedSumAboveTheCap()
    {
        using var billing = new BillingTestApp();
        var (app, userId, client) = await PayPerUseCustomerAsync(billing);
        (await SetCapAsync(client, "5")).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        var responses = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => app.GenerateAsync(client)));

        responses.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(10);
        foreach (var refused in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
        {
            refused.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
            (await BillingTestApp.ProblemCodeAsync(refused)).ShouldBe("spend_limit_reached");
        }
        var intents = await IntentsAsync(app, userId);
        intents.Count.ShouldBe(10);
        HeldOrCaptured(intents).ShouldBeLessThanOrEqualTo(500);
        await BillingTestApp.EventuallyAsync(async () => HeldOrCaptured(await IntentsAsync(app, userId)) == 500, "ten generations held or captured, 5.00 USD");
    }

    [Fact]
    public async Task FailedGeneration_GivesItsAmountBack_SoTheCapStillAllowsTheNextOne()
    {
        using var billing = new BillingTestApp(new() { ["Generation:Backend"] = "Http", ["Generation:Http:BaseUrl"] = "http://127.0.0.1:9" });
        var (app, userId, client) = await PayPerUseCustomerAsync(billing);
        (await SetCapAsync(client, "0.50")).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        (await BillingTestApp.ProblemCodeAsync(await app.GenerateAsync(client))).ShouldBe("generation_failed");
        (await BillingTestApp.ProblemCodeAsync(await app.GenerateAsync(client))).ShouldBe("generation_failed", "the first, released, no longer counts");
        (await MeAsync(client)).GetProperty("spentThisMonthMinor").GetInt64().ShouldBe(0);
    }

    [Theory]
    [InlineData("abc", "like 25 or 25.50")]
    [InlineData("-5", "like 25 or 25.50")]
    [InlineData("0", "more than 0")]
    [InlineData("0.00", "more than 0")]
    [InlineData("1.234", "two decimals")]
    [InlineData("100000.01", "at most 100000.00 USD")]
    [InlineData("1e3", "like 25 or 25.50")]
    [InlineData("{\"cap\":5}", "like 25 or 25.50")]
    public async Task BadCap_IsRefusedOnTheForm_AndKeepsTheCapAsItWas(string input, string message)
    {
        using var app = new BillingTestApp();
        var (_, client) = await app.SignedInUserAsync();
        (await SetCapAsync(client, "10")).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        var response = await SetCapAsync(client, input);

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var page = await response.Content.ReadAsStringAsync();
        page.ShouldContain(System.Net.WebUtility.HtmlEncode(message));
        page.ShouldContain("data-testid=\"spend-cap-error\"");
        (await MeAsync(client)).GetProperty("capMinor").GetInt64().ShouldBe(1000);
    }

    [Fact]
    public async Task LargestCap_IsAccepted_AndAPostWithoutTheAntiforgeryTokenChangesNothing()
    {
        using var app = new BillingTestApp();
        var (_, client) = await app.SignedInUserAsync();
        (await SetCapAsync(client, "100000")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await MeAsync(client)).GetProperty("capMinor").GetInt64().ShouldBe(10_000_000);

        var forged = await client.PostAsync("/billing?handler=SpendCap", new FormUrlEncodedContent(new Dictionary<string, string> { ["Input.SpendCap"] = "1" }));
        forged.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await MeAsync(client)).GetProperty("capMinor").GetInt64().ShouldBe(10_000_000);

        using var anonymous = app.NewClient();
        var form = new Dictionary<string, string> { ["Input.SpendCap"] = "1" };
        var signedOut = await anonymous.PostAsync("/billing?handler=SpendCap", new FormUrlEncodedContent(form));
        signedOut.Headers.Location?.ToString().ShouldNotStartWith("/billing", Case.Insensitive, "a signed-out post is sent to sign in, not saved");
        (await MeAsync(client)).GetProperty("capMinor").GetInt64().ShouldBe(10_000_000);
    }
}
