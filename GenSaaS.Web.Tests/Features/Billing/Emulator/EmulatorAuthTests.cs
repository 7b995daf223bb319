using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Features.Billing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>Callers of the emulated Stripe API without its secret key, as an attacker on the network would try them.</summary>
public sealed class EmulatorAuthTests(EmulatorApp app) : IClassFixture<EmulatorApp>
{
    private const string NoKeyMessage =
        "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
        + "See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.";

    private StripeClient ClientWithKey(string key) => new(key, apiBase: app.BaseAddress.ToString().TrimEnd('/') + "/emulator/stripe");

    private static async Task ShouldBeStripes401Async(HttpResponseMessage response, string message)
    {
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/json");
        response.Headers.WwwAuthenticate.ToString().ShouldBe("Basic realm=\"Stripe\"");
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        body.EnumerateObject().Select(p => p.Name).ShouldBe(["error"]);
        var error = body.GetProperty("error");
        error.EnumerateObject().Select(p => p.Name).OrderBy(n => n).ShouldBe(["message", "type"]);
        error.GetProperty("type").GetString().ShouldBe("invalid_request_error");
        error.GetProperty("message").GetString().ShouldBe(message);
    }

    [Theory]
    [InlineData("GET", "/emulator/stripe/v1/customers")]
    [InlineData("POST", "/emulator/stripe/v1/customers")]
    [InlineData("POST", "/emulator/stripe/v1/refunds")]
    [InlineData("GET", "/emulator/stripe/v1/events")]
    [InlineData("GET", "/emulator/stripe/v1/no_such_resource")]
    [InlineData("DELETE", "/emulator/stripe/v1/customers/cus_x/secret")]
    public async Task Anonymous_GetsStripes401_AndNothingIsCreated(string method, string path)
    {
        using var client = app.NewClient();
        var before = await new CustomerService(app.Stripe).ListAsync(new CustomerListOptions { Limit = 100 });
        using var request = new HttpRequestMessage(new HttpMethod(method), path)
        {
            Content = method == "POST" ? new FormUrlEncodedContent(new Dictionary<string, string> { ["email"] = "mallory@example.com", ["charge"] = "ch_x" }) : null,
        };
        await ShouldBeStripes401Async(await client.SendAsync(request), NoKeyMessage);
        (await new CustomerService(app.Stripe).ListAsync(new CustomerListOptions { Limit = 100 })).Data.Count.ShouldBe(before.Data.Count);
    }

    [Fact]
    public async Task AnyOtherTestKey_ThroughStripeNet_IsRefusedWithStripesMessage()
    {
        var forged = "sk_test_" + Guid.NewGuid().ToString("N") + "WXYZ";
        var ex = await Should.ThrowAsync<StripeException>(() => new CustomerService(ClientWithKey(forged)).CreateAsync(new CustomerCreateOptions { Email = "mallory@example.com" }));
        ex.HttpStatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        ex.StripeError.Type.ShouldBe("invalid_request_error");
        ex.StripeError.Message.ShouldStartWith("Invalid API Key provided: sk_test_");
        ex.StripeError.Message.ShouldEndWith("WXYZ");
        ex.StripeError.Message.ShouldNotContain(forged[8..^4]);
    }

    [Theory]
    [InlineData("drop-last")]
    [InlineData("extra-char")]
    [InlineData("other-case")]
    [InlineData("live-prefix")]
    public async Task NearMissesOfTheRealKey_AreRefused(string variant)
    {
        var key = app.Emulator.SecretKey;
        var forged = variant switch
        {
            "drop-last" => key[..^1],
            "extra-char" => key + "0",
            "other-case" => key.ToUpperInvariant(),
            _ => "sk_live_" + key["sk_test_".Length..],
        };
        var ex = await Should.ThrowAsync<StripeException>(() => new CustomerService(ClientWithKey(forged)).ListAsync());
        ex.HttpStatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        ex.StripeError.Message.ShouldStartWith("Invalid API Key provided: ");
        ex.StripeError.Message.ShouldNotContain(key[12..^4]);
    }

    [Fact]
    public async Task TheKeyInTheWrongPlace_CountsAsNoKey()
    {
        var key = app.Emulator.SecretKey;
        using var client = app.NewClient();

        await ShouldBeStripes401Async(await client.GetAsync($"/emulator/stripe/v1/customers?api_key={key}&key={key}"), NoKeyMessage);
        await ShouldBeStripes401Async(await client.PostAsync("/emulator/stripe/v1/customers",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["api_key"] = key, ["email"] = "x@example.com" })), NoKeyMessage);

        using var cookie = new HttpRequestMessage(HttpMethod.Get, "/emulator/stripe/v1/customers");
        cookie.Headers.Add("Cookie", $"api_key={key}");
        await ShouldBeStripes401Async(await client.SendAsync(cookie), NoKeyMessage);

        using var otherScheme = new HttpRequestMessage(HttpMethod.Get, "/emulator/stripe/v1/customers");
        otherScheme.Headers.TryAddWithoutValidation("Authorization", $"Token {key}");
        await ShouldBeStripes401Async(await client.SendAsync(otherScheme), NoKeyMessage);

        using var emptyBearer = new HttpRequestMessage(HttpMethod.Get, "/emulator/stripe/v1/customers");
        emptyBearer.Headers.TryAddWithoutValidation("Authorization", "Bearer ");
        await ShouldBeStripes401Async(await client.SendAsync(emptyBearer), NoKeyMessage);

        // The key as the Basic password (with some other user name) is not how Stripe takes it.
        using var asPassword = new HttpRequestMessage(HttpMethod.Get, "/emulator/stripe/v1/customers");
        asPassword.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"sk_test_mallory:{key}")));
        var response = await client.SendAsync(asPassword);
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await response.Content.ReadAsStringAsync()).ShouldNotContain(key[12..^4]);

        using var garbage = new HttpRequestMessage(HttpMethod.Get, "/emulator/stripe/v1/customers");
        garbage.Headers.TryAddWithoutValidation("Authorization", "Basic %%%not-base64");
        await ShouldBeStripes401Async(await client.SendAsync(garbage), NoKeyMessage);
    }

    [Fact]
    public async Task TheRealKey_WorksAsBearer_AndAsTheBasicUserName_AsAtStripe()
    {
        var key = app.Emulator.SecretKey;
        using var client = app.NewClient();
        using var bearer = new HttpRequestMessage(HttpMethod.Get, "/emulator/stripe/v1/customers");
        bearer.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        (await client.SendAsync(bearer)).StatusCode.ShouldBe(HttpStatusCode.OK);

        using var basic = new HttpRequestMessage(HttpMethod.Get, "/emulator/stripe/v1/customers");
        basic.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(key + ":")));
        (await client.SendAsync(basic)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task HostedCheckoutPage_IsNotAnApiCall_AndOpensWithoutAKey()
    {
        var price = await app.PriceAsync(500);
        var session = await new Stripe.Checkout.SessionService(app.Stripe).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "payment",
            LineItems = [new Stripe.Checkout.SessionLineItemOptions { Price = price.Id, Quantity = 1 }],
            SuccessUrl = "https://app.example/ok",
        });
        using var browser = app.NewClient();
        var page = await browser.GetAsync(new Uri(session.Url).PathAndQuery);
        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await page.Content.ReadAsStringAsync()).ShouldContain("Card number");
    }
}

/// <summary>Where the emulator's key comes from: configuration, else generated once and kept with the emulator's data.</summary>
[Collection(BillingCollection.Name)]
public sealed class EmulatorKeySourceTests
{
    [Fact]
    public async Task ConfiguredKey_IsTheOnlyOneAccepted_AndTheAppUsesIt()
    {
        var configured = "sk_test_configured" + Guid.NewGuid().ToString("N");
        using var app = new EmulatorApp(new() { ["Billing:Emulator:SecretKey"] = configured });
        app.Emulator.SecretKey.ShouldBe(configured);
        var customers = new CustomerService(new StripeClient(configured, apiBase: app.BaseAddress.ToString().TrimEnd('/') + "/emulator/stripe"));
        (await customers.CreateAsync(new CustomerCreateOptions { Email = "ops@example.com" })).Id.ShouldStartWith("cus_");

        // The app's own Stripe client talks to the emulator with the configured key.
        (await app.Services.GetRequiredService<StripeGateway>().FindPriceAsync("no_such_plan", CancellationToken.None)).ShouldBeNull();

        await using var connection = new SqliteConnection(app.Emulator.Store.ConnectionString);
        (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM settings WHERE value = @configured", new { configured })).ShouldBe(0);
    }

    [Fact]
    public async Task GeneratedKey_IsKeptAcrossARestart_AndIsNotGuessable()
    {
        using var first = new EmulatorApp(new());
        var key = first.Emulator.SecretKey;
        key.ShouldStartWith("sk_test_");
        key.Length.ShouldBeGreaterThanOrEqualTo("sk_test_".Length + 32);
        using (var other = new EmulatorApp(new()))
            other.Emulator.SecretKey.ShouldNotBe(key);

        using var second = new EmulatorApp(new(), dataDir: first.DataDir);
        second.Emulator.SecretKey.ShouldBe(key);
        var customers = new CustomerService(new StripeClient(key, apiBase: second.BaseAddress.ToString().TrimEnd('/') + "/emulator/stripe"));
        (await customers.ListAsync()).Object.ShouldBe("list");
        (await second.Services.GetRequiredService<StripeGateway>().FindPriceAsync("no_such_plan", CancellationToken.None)).ShouldBeNull();
    }
}
