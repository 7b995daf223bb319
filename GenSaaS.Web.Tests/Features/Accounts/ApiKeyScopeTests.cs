using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

/// <summary>Scopes, the per-user key cap and lockout, tried by a client that holds a key and wants more than it was given.</summary>
public sealed class ApiKeyScopeTests(AccountsApp app) : IClassFixture<AccountsApp>
{
    private static async Task<HttpResponseMessage> PostCreateAsync(HttpClient browser, string name, params string[] scopes)
    {
        var form = new List<KeyValuePair<string, string>> { new("Input.Name", name), new("Input.Scopes", "") };
        form.AddRange(scopes.Select(s => new KeyValuePair<string, string>("Input.Scopes", s)));
        form.Add(new("__RequestVerificationToken", TestApp.AntiforgeryToken(await browser.GetStringAsync("/account/api-keys"))));
        return await browser.PostAsync("/account/api-keys?handler=Create", new FormUrlEncodedContent(form));
    }

    private static string? ShownKey(string html) =>
        Regex.Match(html, "value=\"(gsk_[^\"]+)\" data-testid=\"new-api-key\"") is { Success: true } m ? m.Groups[1].Value : null;

    /// <summary>Creates a key through the form with these boxes ticked (the form's own default ones when none are given).</summary>
    private static async Task<string> CreateKeyAsync(HttpClient browser, string name, params string[] scopes)
    {
        var response = await PostCreateAsync(browser, name, scopes.Length > 0 ? scopes : ["generate", "read"]);
        var html = await response.Content.ReadAsStringAsync();
        return ShownKey(html).ShouldNotBeNull(html);
    }

    private HttpClient Api(string key)
    {
        var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    private static async Task ShouldLackScopeAsync(HttpResponseMessage response, string scope)
    {
        response.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("code").GetString().ShouldBe("insufficient_scope");
        problem.GetProperty("title").GetString()!.ShouldContain($"'{scope}'");
        response.Headers.WwwAuthenticate.ToString().ShouldContain($"scope=\"{scope}\"");
    }

    private async Task<long> LiveKeysAsync(string userId)
    {
        await using var connection = await app.Db.OpenAsync();
        return await connection.QuerySingleAsync<long>("SELECT count(*) FROM api_keys WHERE user_id = @userId AND revoked_at IS NULL", new { userId });
    }

    [Fact]
    public async Task ReadOnlyKey_CannotGenerate_ButReadsListsAndImages()
    {
        var (_, browser) = await app.SignedInUserAsync();
        var made = await (await browser.PostAsJsonAsync("/api/v1/generations", new { prompt = "made in the browser" })).Content.ReadFromJsonAsync<JsonElement>();
        using var api = Api(await CreateKeyAsync(browser, "dashboard reader", "read"));

        await ShouldLackScopeAsync(await api.PostAsJsonAsync("/api/v1/generations", new { prompt = "a free image?" }), "generate");
        var list = await api.GetFromJsonAsync<JsonElement>("/api/v1/generations");
        list.GetProperty("data").GetArrayLength().ShouldBe(1, "the refused request generated nothing");
        (await api.GetAsync(made.GetProperty("imageUrl").GetString())).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await api.GetAsync("/api/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task GenerateOnlyKey_Generates_ButCannotListReadOrFetchImages()
    {
        var (_, browser) = await app.SignedInUserAsync();
        using var api = Api(await CreateKeyAsync(browser, "writer", "generate"));
        var created = await api.PostAsJsonAsync("/api/v1/generations", new { prompt = "a lighthouse" });
        created.StatusCode.ShouldBe(HttpStatusCode.Created);
        var body = await created.Content.ReadFromJsonAsync<JsonElement>();

        await ShouldLackScopeAsync(await api.GetAsync("/api/v1/generations"), "read");
        await ShouldLackScopeAsync(await api.GetAsync($"/api/v1/generations/{body.GetProperty("id").GetString()}"), "read");
        await ShouldLackScopeAsync(await api.GetAsync("/api/v1/me"), "read");
        (await api.GetAsync(body.GetProperty("imageUrl").GetString())).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        // The browser that owns it is not limited by scopes.
        (await browser.GetAsync("/api/v1/generations")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task TheListShowsEachKeysScopes_AndANewFormTicksTheDefaultOnes()
    {
        var (_, browser) = await app.SignedInUserAsync();
        await CreateKeyAsync(browser, "only-reads", "read");
        (await TestApp.PostFormAsync(browser, "/account/api-keys?handler=Create", new() { ["Input.Name"] = "no scopes field" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var page = await browser.GetStringAsync("/account/api-keys");
        page.ShouldContain("<td data-testid=\"api-key-scopes-cell\">read</td>");
        page.ShouldContain("<td data-testid=\"api-key-scopes-cell\">generate read</td>", Case.Sensitive, "a form without the field gets the default");
        page.ShouldContain("value=\"generate\" checked=\"checked\"");
        page.ShouldContain("value=\"read\" checked=\"checked\"");
        page.ShouldNotContain("value=\"admin\"", Case.Sensitive, "a plain user is not offered the admin scope");
    }

    [Fact]
    public async Task PlainUser_AskingForAdminScope_OrNoScope_OrAMadeUpOne_GetsNoKey()
    {
        var (user, browser) = await app.SignedInUserAsync();
        foreach (var (scopes, message) in new[]
        {
            (new[] { "generate", "read", "admin" }, "Only administrators can create a key with the admin scope."),
            (Array.Empty<string>(), "Choose at least one scope."),
            (new[] { "read", "payments" }, "Unknown scope: payments"),
        })
        {
            var response = await PostCreateAsync(browser, "sneaky", scopes);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            var html = await response.Content.ReadAsStringAsync();
            ShownKey(html).ShouldBeNull();
            html.ShouldContain(message);
        }
        (await LiveKeysAsync(user.Id)).ShouldBe(0);
    }

    [Fact]
    public async Task AdminKey_ActsAsAdminOnlyWithTheAdminScope()
    {
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        var (_, other) = await app.SignedInUserAsync();
        var theirs = await (await other.PostAsJsonAsync("/api/v1/generations", new { prompt = "someone else's" })).Content.ReadFromJsonAsync<JsonElement>();
        var url = $"/api/v1/generations/{theirs.GetProperty("id").GetString()}";

        (await admin.GetStringAsync("/account/api-keys")).ShouldContain("value=\"admin\"");
        using var everyday = Api(await CreateKeyAsync(admin, "everyday"));
        (await everyday.GetAsync(url)).StatusCode.ShouldBe(HttpStatusCode.NotFound, "without the admin scope the key is a plain user's");
        using var powerful = Api(await CreateKeyAsync(admin, "admin tools", "read", "admin"));
        (await powerful.GetAsync(url)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task ThirtyParallelCreations_LeaveExactly25LiveKeys_AndRevokingOneMakesRoom()
    {
        var (user, browser) = await app.SignedInUserAsync();
        var token = TestApp.AntiforgeryToken(await browser.GetStringAsync("/account/api-keys"));
        var responses = await Task.WhenAll(Enumerable.Range(0, 30).Select(async i =>
        {
            var response = await browser.PostAsync("/account/api-keys?handler=Create", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["Input.Name"] = $"key {i}", ["__RequestVerificationToken"] = token,
            }));
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            return await response.Content.ReadAsStringAsync();
        }));

        responses.Count(html => ShownKey(html) is not null).ShouldBe(25);
        responses.Count(html => html.Contains("You already have 25 active keys")).ShouldBe(5);
        (await LiveKeysAsync(user.Id)).ShouldBe(25);

        var page = await browser.GetStringAsync("/account/api-keys");
        var keyId = Regex.Match(page, "action=\"/account/api-keys\\?id=([0-9a-f]+)&amp;handler=Revoke\"").Groups[1].Value;
        (await TestApp.PostFormAsync(browser, $"/account/api-keys?id={keyId}&handler=Revoke", [])).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        await CreateKeyAsync(browser, "after a revoke");
        ShownKey(await (await PostCreateAsync(browser, "one too many", "read")).Content.ReadAsStringAsync()).ShouldBeNull();
        (await LiveKeysAsync(user.Id)).ShouldBe(25);
    }

    [Fact]
    public async Task FiveWrongPasswords_LockTheSignIn_ButTheKeyKeepsGenerating()
    {
        var (user, browser) = await app.SignedInUserAsync();
        using var api = Api(await CreateKeyAsync(browser, "ci"));
        using var attacker = app.NewClient();
        for (var i = 0; i < 5; i++)
            await TestApp.PostFormAsync(attacker, "/Identity/Account/Login", new() { ["Input.Email"] = user.Email!, ["Input.Password"] = $"Guess-{i}-wrong" });
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
            (await users.IsLockedOutAsync((await users.FindByIdAsync(user.Id))!)).ShouldBeTrue("the password sign-in is locked");
        }

        var generated = await api.PostAsJsonAsync("/api/v1/generations", new { prompt = "still working" });
        generated.StatusCode.ShouldBe(HttpStatusCode.Created, await generated.Content.ReadAsStringAsync());
        (await api.GetAsync("/api/v1/generations")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Cli_SetsScopes_RefusesUnknownOnesAndAdminForNonAdmins_AndStopsAtTheCap()
    {
        var email = NewEmail();
        var user = await app.CreateUserAsync(email);
        var readOnly = await AppCli.RunAsync(app.DataDir, "apikeys", "create", "--email", email, "--name", "reader", "--scopes", "read");
        readOnly.ExitCode.ShouldBe(0, readOnly.Error);
        using (var api = Api(readOnly.Output.Trim()))
        {
            await ShouldLackScopeAsync(await api.PostAsJsonAsync("/api/v1/generations", new { prompt = "x" }), "generate");
            (await api.GetAsync("/api/v1/generations")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        var unknown = await AppCli.RunAsync(app.DataDir, "apikeys", "create", "--email", email, "--name", "x", "--scopes", "read,everything");
        unknown.ExitCode.ShouldBe(64);
        unknown.Error.ShouldContain("unknown scope 'everything'");
        var notAdmin = await AppCli.RunAsync(app.DataDir, "apikeys", "create", "--email", email, "--name", "x", "--scopes", "generate,admin");
        notAdmin.ExitCode.ShouldBe(1);
        notAdmin.Error.ShouldContain("is not an admin");
        (await LiveKeysAsync(user.Id)).ShouldBe(1);

        await using (var connection = await app.Db.OpenAsync())
            await connection.ExecuteAsync("""
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 24)
                INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at) SELECT 'k' || i || @userId, @userId, 'k', 'gsk_x', 'h' || i || @userId, '2026-01-01 00:00:00' FROM n;
                """, new { userId = user.Id });
        var full = await AppCli.RunAsync(app.DataDir, "apikeys", "create", "--email", email, "--name", "26th");
        full.ExitCode.ShouldBe(1);
        full.Error.ShouldContain("already has 25 active keys");
    }
}
