using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Accounts;

/// <summary>Sessions end when they should: a stolen or left-behind cookie replayed after sign-out or a password change is anonymous.</summary>
public sealed class SessionTests(AccountsApp app) : IClassFixture<AccountsApp>
{
    private const string Password = "Correct-Horse-9";

    /// <summary>Signs in through the form and returns the browser and its sign-in cookie, as a thief copying it would see it.</summary>
    private async Task<(HttpClient Browser, string Cookie)> SignInAsync(string email, string userAgent = "TestBrowser/1.0")
    {
        var browser = app.NewClient();
        browser.DefaultRequestHeaders.UserAgent.ParseAdd(userAgent);
        var response = await TestApp.PostFormAsync(browser, "/Identity/Account/Login", new()
        {
            ["Input.Email"] = email, ["Input.Password"] = Password, ["Input.RememberMe"] = "true",
        });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        var cookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("gensaas.auth=", StringComparison.Ordinal)).Split(';')[0];
        return (browser, cookie);
    }

    /// <summary>A client with no cookie jar that sends exactly this cookie on every request.</summary>
    private HttpClient Replaying(string cookie)
    {
        var client = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = app.BaseAddress };
        client.DefaultRequestHeaders.Add("Cookie", cookie);
        return client;
    }

    private static async Task ShouldBeSignedInAsync(HttpClient client)
    {
        (await client.GetAsync("/account/api-keys")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.GetAsync("/api/v1/generations")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    private static async Task ShouldBeAnonymousAsync(HttpClient client)
    {
        var page = await client.GetAsync("/account/api-keys");
        page.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        page.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login");
        (await client.GetAsync("/api/v1/generations")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await client.GetAsync("/Identity/Account/Manage")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
    }

    private async Task<string> NewUserAsync()
    {
        var email = AccountsTestKit.NewEmail();
        await app.CreateUserAsync(email, Password);
        return email;
    }

    [Fact]
    public async Task CookieReplayedAfterSignOut_IsAnonymous()
    {
        var (browser, cookie) = await SignInAsync(await NewUserAsync());
        using var thief = Replaying(cookie);
        await ShouldBeSignedInAsync(thief);

        var signedOut = await TestApp.PostFormAsync(browser, "/Identity/Account/Logout?returnUrl=%2F", []);
        signedOut.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        signedOut.Headers.Location!.ToString().ShouldBe("/");
        await ShouldBeAnonymousAsync(browser);
        await ShouldBeAnonymousAsync(thief);
    }

    [Fact]
    public async Task SignOutByGet_OnlyAsks_AndExternalReturnUrlsAreIgnored()
    {
        var (browser, _) = await SignInAsync(await NewUserAsync());
        var ask = await browser.GetAsync("/Identity/Account/Logout?returnUrl=https%3A%2F%2Fevil.example%2F");
        ask.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await ask.Content.ReadAsStringAsync();
        html.ShouldContain("data-testid=\"confirm-sign-out\"");
        html.ShouldNotContain("evil.example");
        await ShouldBeSignedInAsync(browser);

        foreach (var external in new[] { "https://evil.example/", "//evil.example", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)" })
        {
            var (victim, _) = await SignInAsync((await app.CreateUserAsync(AccountsTestKit.NewEmail(), Password)).Email!);
            var token = TestApp.AntiforgeryToken(await victim.GetStringAsync("/Identity/Account/Logout"));
            var response = await victim.PostAsync($"/Identity/Account/Logout?returnUrl={Uri.EscapeDataString(external)}",
                new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = token }));
            response.StatusCode.ShouldBe(HttpStatusCode.Redirect, external);
            response.Headers.Location!.ToString().ShouldBe("/", external);
            await ShouldBeAnonymousAsync(victim);
        }

        var local = await TestApp.PostFormAsync(browser, "/Identity/Account/Logout?returnUrl=%2Fbilling", []);
        local.Headers.Location!.ToString().ShouldBe("/billing");
    }

    [Fact]
    public async Task SignOutWithoutAntiforgeryToken_IsRefused_AndTheSessionLives()
    {
        var (browser, _) = await SignInAsync(await NewUserAsync());
        var forged = await browser.PostAsync("/Identity/Account/Logout", new FormUrlEncodedContent([]));
        forged.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        await ShouldBeSignedInAsync(browser);
    }

    [Fact]
    public async Task PasswordChangedInSessionB_EndsSessionA_AtOnce_AndBStaysSignedIn()
    {
        var email = await NewUserAsync();
        var (_, cookieA) = await SignInAsync(email, "LaptopA/1.0");
        var (browserB, _) = await SignInAsync(email, "PhoneB/1.0");
        using var a = Replaying(cookieA);
        await ShouldBeSignedInAsync(a);

        const string newPassword = "Violet-Tundra-Kettle-83";
        var changed = await TestApp.PostFormAsync(browserB, "/Identity/Account/Manage/ChangePassword", new()
        {
            ["Input.OldPassword"] = Password, ["Input.NewPassword"] = newPassword, ["Input.ConfirmPassword"] = newPassword,
        });
        changed.StatusCode.ShouldBe(HttpStatusCode.Redirect, await changed.Content.ReadAsStringAsync());

        await ShouldBeAnonymousAsync(a);
        await ShouldBeSignedInAsync(browserB);
        var sessions = await browserB.GetStringAsync("/account/sessions");
        Regex.Matches(sessions, "data-testid=\"session-row\"").Count.ShouldBe(1);
        sessions.ShouldContain("PhoneB/1.0");
        sessions.ShouldNotContain("LaptopA/1.0");
    }

    [Fact]
    public async Task PasswordResetOrEmailChange_ThroughAnyCaller_EndsEverySession()
    {
        var email = await NewUserAsync();
        const string newPassword = "Violet-Tundra-Kettle-83";
        var (browser, cookie) = await SignInAsync(email);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
            var user = (await users.FindByEmailAsync(email))!;
            (await users.ResetPasswordAsync(user, await users.GeneratePasswordResetTokenAsync(user), newPassword)).Succeeded.ShouldBeTrue();
        }
        await ShouldBeAnonymousAsync(browser);
        await ShouldBeAnonymousAsync(Replaying(cookie));


        var signedIn = app.NewClient();
        (await TestApp.PostFormAsync(signedIn, "/Identity/Account/Login", new() { ["Input.Email"] = email, ["Input.Password"] = newPassword }))
            .StatusCode.ShouldBe(HttpStatusCode.Redirect);
        await ShouldBeSignedInAsync(signedIn);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
            var user = (await users.FindByEmailAsync(email))!;
            (await users.SetEmailAsync(user, AccountsTestKit.NewEmail())).Succeeded.ShouldBeTrue();
        }
        await ShouldBeAnonymousAsync(signedIn);
    }

    [Fact]
    public async Task SignOutEverywhere_EndsTheOtherSessions_KeepsThisOne_AndRevokesKeysOnlyWhenAsked()
    {
        var email = await NewUserAsync();
        var (laptop, _) = await SignInAsync(email, "Laptop/1.0");
        var (phone, _) = await SignInAsync(email, "Phone/1.0");
        var (here, _) = await SignInAsync(email, "Here/1.0");
        var keyPage = await TestApp.PostFormAsync(here, "/account/api-keys?handler=Create", new() { ["Input.Name"] = "ci" });
        var key = Regex.Match(await keyPage.Content.ReadAsStringAsync(), "value=\"(gsk_[^\"]+)\"").Groups[1].Value;
        using var api = app.NewClient();
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);

        var list = await here.GetStringAsync("/account/sessions");
        Regex.Matches(list, "data-testid=\"session-row\"").Count.ShouldBe(3);
        Regex.Matches(list, "data-testid=\"this-session\"").Count.ShouldBe(1);
        Regex.IsMatch(list, "Here/1.0</td>(?:(?!</tr>).)*this session", RegexOptions.Singleline).ShouldBeTrue("the current row is marked");

        var done = await TestApp.PostFormAsync(here, "/account/sessions?handler=SignOutEverywhere", []);
        done.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await here.GetStringAsync("/account/sessions")).ShouldContain("Signed out of 2 other sessions.");
        await ShouldBeAnonymousAsync(laptop);
        await ShouldBeAnonymousAsync(phone);
        await ShouldBeSignedInAsync(here);
        (await api.GetAsync("/api/v1/generations")).StatusCode.ShouldBe(HttpStatusCode.OK, "keys are kept unless asked");

        var (tablet, _) = await SignInAsync(email, "Tablet/1.0");
        (await TestApp.PostFormAsync(here, "/account/sessions?handler=SignOutEverywhere", new() { ["RevokeApiKeys"] = "true" }))
            .StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await here.GetStringAsync("/account/sessions")).ShouldContain("Signed out of 1 other session. Revoked 1 API key.");
        await ShouldBeAnonymousAsync(tablet);
        await ShouldBeSignedInAsync(here);
        (await api.GetAsync("/api/v1/generations")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task ForgedCookie_OpensNothing()
    {
        using var forged = Replaying("gensaas.auth=CfDJ8" + new string('A', 300));
        await ShouldBeAnonymousAsync(forged);
    }
}
