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

/// <summary>A stolen API key tried everywhere but the API: every page and Identity action must treat it as anonymous.</summary>
public sealed class ApiKeyBoundaryTests(AccountsApp app) : IClassFixture<AccountsApp>
{
    private const string Password = "Correct-Horse-9";

    private static readonly string[] _signedInPages =
    [
        "/generate", "/dashboard", "/billing", "/billing/success?session_id=cs_test_x", "/account/api-keys", "/account/sessions",
        "/Identity/Account/Manage", "/Identity/Account/Manage/Email", "/Identity/Account/Manage/ChangePassword",
        "/Identity/Account/Manage/SetPassword", "/Identity/Account/Manage/PersonalData", "/Identity/Account/Manage/DeletePersonalData",
        "/Identity/Account/Manage/ExternalLogins", "/Identity/Account/Manage/TwoFactorAuthentication",
        "/admin", "/admin/billing/events", "/hangfire", "/hangfire/jobs/enqueued",
    ];

    private HttpClient KeyOnly(string key)
    {
        var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>An admin's key with every scope, the strongest a thief could hold.</summary>
    private async Task<(IdentityUser Admin, string Key)> AdminKeyAsync()
    {
        var (admin, browser) = await app.SignedInUserAsync(admin: true);
        var response = await TestApp.PostFormAsync(browser, "/account/api-keys?handler=Create", new()
        {
            ["Input.Name"] = "everything", ["Input.Scopes"] = "generate,read,admin",
        });
        var html = await response.Content.ReadAsStringAsync();
        var key = Regex.Match(html, "value=\"(gsk_[^\"]+)\" data-testid=\"new-api-key\"").Groups[1].Value;
        key.ShouldNotBeEmpty(html);
        // The key works where it is meant to, with the admin role: it can read the jobs-free admin path of the API.
        using var api = KeyOnly(key);
        (await api.GetAsync("/api/v1/generations")).StatusCode.ShouldBe(HttpStatusCode.OK);
        return (admin, key);
    }

    private static void ShouldBeSentToSignIn(HttpResponseMessage response, string url)
    {
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, $"{url} answered {(int)response.StatusCode}");
        response.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login", Case.Insensitive, url);
    }

    [Fact]
    public async Task AdminKey_OnEveryPage_IsAnonymous_AndSentToSignIn()
    {
        var (_, key) = await AdminKeyAsync();
        using var thief = KeyOnly(key);
        foreach (var url in _signedInPages)
            ShouldBeSentToSignIn(await thief.GetAsync(url), url);

        var landing = await thief.GetStringAsync("/");
        landing.ShouldContain("/Identity/Account/Login", Case.Sensitive, "the header offers sign-in: nobody is signed in");
        landing.ShouldNotContain("/account/api-keys");
    }

    [Fact]
    public async Task AdminKey_PostingEveryAccountForm_ChangesNothing()
    {
        var (admin, key) = await AdminKeyAsync();
        using var thief = KeyOnly(key);
        // A real antiforgery token, as an anonymous visitor gets one from the sign-in page.
        var token = TestApp.AntiforgeryToken(await thief.GetStringAsync("/Identity/Account/Login"));
        var attempts = new (string Url, Dictionary<string, string> Form)[]
        {
            ("/account/api-keys?handler=Create", new() { ["Input.Name"] = "stolen", ["Input.Scopes"] = "admin" }),
            ("/Identity/Account/Manage/Email?handler=ChangeEmail", new() { ["Input.NewEmail"] = "thief@example.net" }),
            ("/Identity/Account/Manage/ChangePassword", new()
            {
                ["Input.OldPassword"] = Password, ["Input.NewPassword"] = "Thief-Owns-It-77", ["Input.ConfirmPassword"] = "Thief-Owns-It-77",
            }),
            ("/Identity/Account/Manage/SetPassword", new() { ["Input.NewPassword"] = "Thief-Owns-It-77", ["Input.ConfirmPassword"] = "Thief-Owns-It-77" }),
            ("/Identity/Account/Manage", new() { ["Input.PhoneNumber"] = "555-0100" }),
            ("/Identity/Account/Manage/DeletePersonalData", new() { ["Input.Password"] = Password }),
            ("/account/sessions?handler=SignOutEverywhere", new() { ["RevokeApiKeys"] = "true" }),
            ("/api/billing/checkout", new() { ["plan"] = "pro" }),
            ("/api/billing/portal", []),
        };
        foreach (var (url, form) in attempts)
        {
            var response = await thief.PostAsync(url, new FormUrlEncodedContent(new Dictionary<string, string>(form) { ["__RequestVerificationToken"] = token }));
            if (url.StartsWith("/api/", StringComparison.Ordinal))
            {
                response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, url);
                (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString().ShouldBe("unauthenticated");
            }
            else
                response.StatusCode.ShouldBeOneOf([HttpStatusCode.Redirect, HttpStatusCode.BadRequest], url);
            if (response.StatusCode == HttpStatusCode.Redirect)
                response.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login", Case.Insensitive, url);
        }

        await using var scope = app.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        var after = (await users.FindByIdAsync(admin.Id)).ShouldNotBeNull();
        after.Email.ShouldBe(admin.Email);
        after.PhoneNumber.ShouldBeNull();
        (await users.CheckPasswordAsync(after, Password)).ShouldBeTrue();
        await using var connection = await app.Db.OpenAsync();
        (await connection.QuerySingleAsync<long>("SELECT count(*) FROM api_keys WHERE user_id = @id AND revoked_at IS NULL", new { id = admin.Id })).ShouldBe(1);
        using var api = KeyOnly(key);
        (await api.GetAsync("/api/v1/generations")).StatusCode.ShouldBe(HttpStatusCode.OK, "the sessions form did not revoke the key either");
    }

    [Fact]
    public async Task BillingEndpoints_WithOnlyAKey_Are401Problems()
    {
        var (_, key) = await AdminKeyAsync();
        using var thief = KeyOnly(key);
        foreach (var url in new[] { "/api/billing/checkout", "/api/billing/portal" })
        {
            var response = await thief.PostAsJsonAsync(url, new { plan = "pro" });
            response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, url);
            response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        }
    }

    [Fact]
    public async Task KeyNextToACookie_OnPages_IsIgnored_TheCookieDecides()
    {
        var (_, key) = await AdminKeyAsync();
        var (_, browser) = await app.SignedInUserAsync();
        browser.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        (await browser.GetAsync("/admin")).StatusCode.ShouldBe(HttpStatusCode.Forbidden, "the plain user's cookie, not the admin's key");
        (await browser.GetAsync("/hangfire")).StatusCode.ShouldNotBe(HttpStatusCode.OK);
    }
}
