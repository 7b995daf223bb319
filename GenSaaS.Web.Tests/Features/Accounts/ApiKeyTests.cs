using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Accounts;

public sealed class ApiKeyTests(AccountsApp app) : IClassFixture<AccountsApp>
{
    /// <summary>Creates a key on the page as a signed-in user would and returns what the page showed once.</summary>
    private static async Task<string> CreateKeyOnPageAsync(HttpClient browser, string name)
    {
        var response = await TestApp.PostFormAsync(browser, "/account/api-keys?handler=Create", new() { ["Input.Name"] = name });
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await response.Content.ReadAsStringAsync();
        html.ShouldContain("it is shown only this once");
        var match = Regex.Match(html, "value=\"(gsk_[^\"]+)\" data-testid=\"new-api-key\"");
        match.Success.ShouldBeTrue(html);
        return match.Groups[1].Value;
    }

    private HttpClient ApiClient(string key)
    {
        var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    private static async Task ShouldBeUnauthenticatedAsync(HttpResponseMessage response)
    {
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString().ShouldBe("unauthenticated");
    }

    [Fact]
    public async Task KeyCreatedOnThePage_Generates_ThenRevokedOnThePage_Is401()
    {
        var (_, browser) = await app.SignedInUserAsync();
        var key = await CreateKeyOnPageAsync(browser, "laptop");
        key.Length.ShouldBeGreaterThanOrEqualTo(4 + 43);

        var list = await browser.GetStringAsync("/account/api-keys");
        list.ShouldContain("laptop");
        list.ShouldContain($"<code>{key[..12]}…</code>");
        list.ShouldNotContain(key, Case.Sensitive, "the full key is shown only once");

        using var api = ApiClient(key);
        var created = await api.PostAsJsonAsync("/api/v1/generations", new { prompt = "a fox in the snow", seed = 3 });
        created.StatusCode.ShouldBe(HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        (await browser.GetStringAsync("/account/api-keys")).ShouldNotContain("<td>never</td>");

        var keyId = Regex.Match(list, "action=\"/account/api-keys\\?id=([0-9a-f]+)&amp;handler=Revoke\"").Groups[1].Value;
        keyId.ShouldNotBeEmpty(list);
        var revoked = await TestApp.PostFormAsync(browser, $"/account/api-keys?id={keyId}&handler=Revoke", []);
        revoked.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await browser.GetStringAsync("/account/api-keys")).ShouldContain("The key was revoked.");

        await ShouldBeUnauthenticatedAsync(await api.PostAsJsonAsync("/api/v1/generations", new { prompt = "another fox" }));
        await ShouldBeUnauthenticatedAsync(await api.GetAsync("/api/v1/generations"));
    }

    [Fact]
    public async Task AnotherUsersKey_CannotReadMyGeneration()
    {
        var (_, mine) = await app.SignedInUserAsync();
        var (_, theirs) = await app.SignedInUserAsync();
        var myKey = await CreateKeyOnPageAsync(mine, "mine");
        var theirKey = await CreateKeyOnPageAsync(theirs, "theirs");

        using var myApi = ApiClient(myKey);
        var created = await (await myApi.PostAsJsonAsync("/api/v1/generations", new { prompt = "my secret garden" })).Content.ReadFromJsonAsync<JsonElement>();
        var id = created.GetProperty("id").GetString();
        (await myApi.GetAsync($"/api/v1/generations/{id}")).StatusCode.ShouldBe(HttpStatusCode.OK);

        using var theirApi = ApiClient(theirKey);
        (await theirApi.GetAsync($"/api/v1/generations/{id}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await theirApi.GetAsync(created.GetProperty("imageUrl").GetString())).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await theirApi.GetFromJsonAsync<JsonElement>("/api/v1/generations")).GetProperty("data").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task UnknownOrMalformedKey_Is401Problem()
    {
        using var unknown = ApiClient("gsk_" + new string('A', 43));
        await ShouldBeUnauthenticatedAsync(await unknown.GetAsync("/api/v1/generations"));
        using var malformed = ApiClient("not-a-key");
        await ShouldBeUnauthenticatedAsync(await malformed.PostAsJsonAsync("/api/v1/generations", new { prompt = "x" }));
    }

    [Fact]
    public async Task DeletedUsersKeys_StopWorking()
    {
        var (user, browser) = await app.SignedInUserAsync();
        var key = await CreateKeyOnPageAsync(browser, "ci");
        using var api = ApiClient(key);
        (await api.GetAsync("/api/v1/generations")).StatusCode.ShouldBe(HttpStatusCode.OK);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
            (await users.DeleteAsync((await users.FindByIdAsync(user.Id))!)).Succeeded.ShouldBeTrue();
        }
        await ShouldBeUnauthenticatedAsync(await api.GetAsync("/api/v1/generations"));
        await using var connection = await app.Db.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM api_keys WHERE user_id = @id", new { id = user.Id })).ShouldBe(0);
    }

    [Fact]
    public async Task LastUsed_IsWrittenAtMostOncePerMinute()
    {
        var (user, browser) = await app.SignedInUserAsync();
        using var api = ApiClient(await CreateKeyOnPageAsync(browser, "busy"));
        async Task<string?> LastUsed()
        {
            await using var connection = await app.Db.OpenAsync();
            return await connection.ExecuteScalarAsync<string?>("SELECT last_used_at FROM api_keys WHERE user_id = @id", new { id = user.Id });
        }

        (await api.GetAsync("/api/v1/generations")).EnsureSuccessStatusCode();
        var first = await LastUsed();
        first.ShouldNotBeNull();
        app.Clock.Advance(TimeSpan.FromSeconds(30));
        (await api.GetAsync("/api/v1/generations")).EnsureSuccessStatusCode();
        (await LastUsed()).ShouldBe(first);
        app.Clock.Advance(TimeSpan.FromSeconds(31));
        (await api.GetAsync("/api/v1/generations")).EnsureSuccessStatusCode();
        (await LastUsed()).ShouldNotBe(first);
    }

    [Fact]
    public async Task CookieRequestsStillWork_AndAnonymousPagesStillRedirect()
    {
        var (_, browser) = await app.SignedInUserAsync();
        (await browser.GetAsync("/api/v1/generations")).StatusCode.ShouldBe(HttpStatusCode.OK);
        using var anonymous = app.NewClient();
        var page = await anonymous.GetAsync("/account/api-keys");
        page.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        page.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login");
    }
}
