using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using GenSaaS.Web.Tests.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Shared;

/// <summary>A hostile page in the victim's browser: it can send the victim's cookie with a form post, but no custom header and no token.</summary>
public sealed class CsrfTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private async Task<HttpClient> VictimAsync()
    {
        var (_, client) = await app.SignedInUserAsync();
        // What a cross-site form sends: the cookie and nothing else.
        client.DefaultRequestHeaders.Remove("X-Requested-With");
        return client;
    }

    private async Task<long> CountAsync(string type)
    {
        await using var connection = await app.Emulator.Store.OpenAsync();
        return await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM objects WHERE type = @type", new { type });
    }

    private static async Task ShouldBeRefusedAsync(HttpResponseMessage response)
    {
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, await response.Content.ReadAsStringAsync());
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString().ShouldBe("antiforgery_failed");
    }

    private static HttpContent TextPlainJson(string json) => new StringContent(json, Encoding.UTF8, "text/plain");

    [Fact]
    public async Task Checkout_FromAnotherSite_IsRefused_AndNoCheckoutSessionIsCreated()
    {
        var victim = await VictimAsync();
        var before = await CountAsync("checkout.session");

        await ShouldBeRefusedAsync(await victim.PostAsync("/api/billing/checkout", new FormUrlEncodedContent(new Dictionary<string, string> { ["plan"] = "bundle_10" })));
        // enctype="text/plain" shaped as JSON: the classic trick to post "JSON" from a form.
        await ShouldBeRefusedAsync(await victim.PostAsync("/api/billing/checkout", TextPlainJson("{\"plan\":\"bundle_10\",\"x\":\"=\"}")));
        // A forged token is no token.
        await ShouldBeRefusedAsync(await victim.PostAsync("/api/billing/checkout", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["plan"] = "bundle_10",
            ["__RequestVerificationToken"] = "CfDJ8forged",
        })));
        // JSON needs the custom header too; a cross-site script could not add it without a preflight this app never grants.
        await ShouldBeRefusedAsync(await victim.PostAsJsonAsync("/api/billing/checkout", new { plan = "bundle_10" }));

        (await CountAsync("checkout.session")).ShouldBe(before);
    }

    [Fact]
    public async Task Checkout_FromTheSitesOwnPage_OrAScriptWithTheHeader_Works()
    {
        var victim = await VictimAsync();
        var page = await victim.GetStringAsync("/billing");
        var before = await CountAsync("checkout.session");

        var form = await victim.PostAsync("/api/billing/checkout", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["plan"] = "bundle_10",
            ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(page),
        }));
        form.StatusCode.ShouldBe(HttpStatusCode.SeeOther, await form.Content.ReadAsStringAsync());

        // htmx sends the token in the header the layout configures.
        using var htmx = new HttpRequestMessage(HttpMethod.Post, "/api/billing/checkout")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["plan"] = "bundle_10" }),
        };
        htmx.Headers.Add("HX-Request", "true");
        htmx.Headers.Add("RequestVerificationToken", TestApp.AntiforgeryToken(page));
        (await victim.SendAsync(htmx)).StatusCode.ShouldBe(HttpStatusCode.OK);

        using var script = new HttpRequestMessage(HttpMethod.Post, "/api/billing/checkout") { Content = JsonContent.Create(new { plan = "bundle_10" }) };
        script.Headers.Add("X-Requested-With", "XMLHttpRequest");
        (await victim.SendAsync(script)).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await CountAsync("checkout.session")).ShouldBe(before + 3);
    }

    [Fact]
    public async Task TheLayout_GivesHtmxTheTokenHeader()
    {
        var victim = await VictimAsync();
        var page = await victim.GetStringAsync("/billing");
        var headers = Regex.Match(page, "hx-headers='([^']+)'");
        headers.Success.ShouldBeTrue(page);
        var token = JsonDocument.Parse(WebUtility.HtmlDecode(headers.Groups[1].Value)).RootElement.GetProperty("RequestVerificationToken").GetString();
        token.ShouldNotBeNullOrEmpty();
    }

    [Fact]
    public async Task Portal_FromAnotherSite_IsRefused_AndNoPortalSessionIsCreated()
    {
        var victim = await VictimAsync();
        var before = await CountAsync("billing_portal.session");

        await ShouldBeRefusedAsync(await victim.PostAsync("/api/billing/portal", null));
        await ShouldBeRefusedAsync(await victim.PostAsync("/api/billing/portal", TextPlainJson("{}")));
        await ShouldBeRefusedAsync(await victim.PostAsync("/api/billing/portal", new FormUrlEncodedContent([])));

        (await CountAsync("billing_portal.session")).ShouldBe(before);
    }

    [Fact]
    public async Task AnonymousCheckout_Is401_NotAnAntiforgeryError()
    {
        using var stranger = app.NewCrossSiteClient();
        var response = await stranger.PostAsync("/api/billing/checkout", new FormUrlEncodedContent(new Dictionary<string, string> { ["plan"] = "bundle_10" }));
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task EmulatorClock_FromAnotherSite_IsRefused_EvenWithoutACookie()
    {
        using var page = app.NewCrossSiteClient();
        var before = app.Emulator.Now;

        await ShouldBeRefusedAsync(await page.PostAsync("/emulator/dev/advance?days=30", null));
        await ShouldBeRefusedAsync(await page.PostAsync("/emulator/dev/faults?set=Duplicate", new FormUrlEncodedContent([])));
        using var navigation = new HttpRequestMessage(HttpMethod.Post, "/emulator/dev/advance?days=30");
        navigation.Headers.Accept.ParseAdd("text/html");
        var html = await page.SendAsync(navigation);
        html.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await html.Content.ReadAsStringAsync()).ShouldContain("did not come from a page of this site");

        (app.Emulator.Now - before).ShouldBeLessThan(TimeSpan.FromDays(1));
        app.Emulator.Faults.ToString().ShouldNotContain("Duplicate");
    }
}

/// <summary>The generation API with a session cookie: a forged call must not spend the victim's credits.</summary>
public sealed class CsrfGenerationTests(TestApp app) : IClassFixture<TestApp>
{
    private static HttpContent TextPlainJson(string json) => new StringContent(json, Encoding.UTF8, "text/plain");

    private async Task<long> UsageCountAsync(string userId)
    {
        await using var connection = await app.Db.OpenAsync();
        return await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM usage WHERE user_id = @userId", new { userId });
    }

    private static async Task ShouldBeRefusedAsync(HttpResponseMessage response)
    {
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, await response.Content.ReadAsStringAsync());
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString().ShouldBe("antiforgery_failed");
    }

    [Fact]
    public async Task Generation_WithTheCookieFromAnotherSite_IsRefused_AndNoCreditMoves_ButAnApiKeyNeedsNoToken()
    {
        var (user, victim) = await app.SignedInUserAsync();
        victim.DefaultRequestHeaders.Remove("X-Requested-With");
        var meBefore = await victim.GetStringAsync("/api/v1/me");

        await ShouldBeRefusedAsync(await victim.PostAsync("/api/v1/generations", TextPlainJson("{\"prompt\":\"forged\"}")));
        await ShouldBeRefusedAsync(await victim.PostAsJsonAsync("/api/v1/generations", new { prompt = "forged" }));

        (await UsageCountAsync(user.Id)).ShouldBe(0);
        (await victim.GetStringAsync("/api/v1/me")).ShouldBe(meBefore);

        var key = await CreateKeyAsync(victim);
        using var api = app.NewCrossSiteClient();
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var created = await api.PostAsJsonAsync("/api/v1/generations", new { prompt = "asked for by the key's owner" });
        created.StatusCode.ShouldBe(HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        (await UsageCountAsync(user.Id)).ShouldBe(1);
    }

    internal static async Task<string> CreateKeyAsync(HttpClient browser)
    {
        var response = await TestApp.PostFormAsync(browser, "/account/api-keys?handler=Create", new() { ["Input.Name"] = "csrf test" });
        var html = await response.Content.ReadAsStringAsync();
        var match = Regex.Match(html, "value=\"(gsk_[^\"]+)\"");
        match.Success.ShouldBeTrue(html);
        return match.Groups[1].Value;
    }

}
