using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Web;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Tests.Features.Accounts;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Authentication.OAuth;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>
/// A locked account is refused on every way in: its open session, its API key, the password, an email link and GitHub; after
/// the unlock each works again (the ended session stays ended).
/// </summary>
public sealed class LockedAccountTests
{
    private const string GitHubEmail = "octo-locked@example.com";

    /// <summary>Stands in for GitHub's token and API endpoints: user 4343 with a verified primary address.</summary>
    private sealed class FakeGitHub : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var (status, json) = request.RequestUri!.GetLeftPart(UriPartial.Path) switch
            {
                "https://github.com/login/oauth/access_token" => (HttpStatusCode.OK, """{"access_token":"gho_test_token","token_type":"bearer","scope":"read:user,user:email"}"""),
                "https://api.github.com/user" => (HttpStatusCode.OK, """{"id":4343,"login":"octo","name":"Octo Cat","email":null}"""),
                "https://api.github.com/user/emails" => (HttpStatusCode.OK, $$"""[{"email":"{{GitHubEmail}}","primary":true,"verified":true}]"""),
                _ => (HttpStatusCode.Forbidden, "{}"),
            };
            return Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") });
        }
    }

    private static AccountsApp NewApp() => new(new()
    {
        ["Authentication:GitHub:ClientId"] = "github-client-id",
        ["Authentication:GitHub:ClientSecret"] = "github-test-secret",
        ["Generation:Backend"] = "Null",
    })
    { TestServices = services => services.Configure<OAuthOptions>("GitHub", o => o.BackchannelHttpHandler = new FakeGitHub()) };

    /// <summary>Challenge, provider callback and the app's callback page; returns the browser and where the app sent it.</summary>
    private static async Task<(HttpClient Browser, HttpResponseMessage Landing)> GitHubSignInAsync(AccountsApp app)
    {
        var cookies = new CookieContainer();
        var browser = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = app.BaseAddress };
        var login = await browser.GetStringAsync("/Identity/Account/Login?returnUrl=%2Fdashboard");
        var challenge = await PostWithTokenAsync(browser, "/Identity/Account/ExternalLogin?returnUrl=%2Fdashboard", login, new() { ["provider"] = "GitHub" });
        var state = HttpUtility.ParseQueryString(challenge.Headers.Location!.Query)["state"]!;
        var correlation = challenge.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(".AspNetCore.Correlation.", StringComparison.Ordinal));
        var (name, value) = (correlation[..correlation.IndexOf('=')], correlation[(correlation.IndexOf('=') + 1)..correlation.IndexOf(';')]);
        cookies.Add(app.BaseAddress, new Cookie(name, value, "/signin-github"));
        var callback = await browser.GetAsync($"/signin-github?code=test-code&state={Uri.EscapeDataString(state)}");
        callback.StatusCode.ShouldBe(HttpStatusCode.Redirect, await callback.Content.ReadAsStringAsync());
        return (browser, await browser.GetAsync(callback.Headers.Location!.ToString()));
    }

    private static async Task<HttpResponseMessage> PasswordSignInAsync(AccountsApp app, string email) =>
        await TestApp.PostFormAsync(app.NewClient(), "/Identity/Account/Login", new()
        {
            ["Input.Email"] = email, ["Input.Password"] = "Correct-Horse-9", ["Input.RememberMe"] = "false",
        });

    private static async Task<HttpResponseMessage> MagicLinkSignInAsync(AccountsApp app, string userId)
    {
        var token = await app.Services.GetRequiredService<MagicLinks>().CreateAsync(userId, CancellationToken.None);
        var browser = app.NewClient();
        var link = $"/account/magic-link/sign-in?Token={Uri.EscapeDataString(token)}&ReturnUrl=%2Fdashboard";
        var landing = await browser.GetStringAsync(link);
        return await PostWithTokenAsync(browser, link, landing, new() { ["Token"] = token, ["ReturnUrl"] = "/dashboard" });
    }

    [Fact]
    public async Task ALockedAccount_IsRefusedOnEveryWayIn_AtOnce_AndUnlockingOpensThemAgain()
    {
        using var app = NewApp();
        var (github, firstLanding) = await GitHubSignInAsync(app);
        firstLanding.StatusCode.ShouldBe(HttpStatusCode.Redirect, await firstLanding.Content.ReadAsStringAsync());
        (await github.GetAsync("/dashboard")).StatusCode.ShouldBe(HttpStatusCode.OK);
        IdentityUser customer;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
            customer = (await users.FindByEmailAsync(GitHubEmail))!;
            (await users.AddPasswordAsync(customer, "Correct-Horse-9")).Succeeded.ShouldBeTrue();
        }
        var passwordSession = await app.SignInAsync(GitHubEmail);
        (await passwordSession.GetAsync("/dashboard")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var keys = app.Services.GetRequiredService<ApiKeyStore>();
        var customerKey = app.NewClient();
        customerKey.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            (await keys.CreateAsync(customer.Id, "integration", [ApiKeyScopes.Read], CancellationToken.None))!.Value.Key);
        (await customerKey.GetAsync("/api/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var admin = await app.CreateUserAsync(NewEmail(), admin: true);
        var adminKey = app.NewClient();
        adminKey.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            (await keys.CreateAsync(admin.Id, "admin", [ApiKeyScopes.Admin], CancellationToken.None))!.Value.Key);

        (await adminKey.PostAsync($"/api/v1/admin/customers/{customer.Id}/lock", JsonContent.Create(new { reason = "stolen card" })))
            .StatusCode.ShouldBe(HttpStatusCode.OK);

        // Existing sessions (however they signed in) and the key: refused on their very next request.
        (await github.GetAsync("/dashboard")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await passwordSession.GetAsync("/dashboard")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await customerKey.GetAsync("/api/v1/me")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        // Every way to sign in again.
        var password = await PasswordSignInAsync(app, GitHubEmail);
        password.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        password.Headers.Location!.ToString().ShouldContain("Lockout");
        (await MagicLinkSignInAsync(app, customer.Id)).StatusCode.ShouldBe(HttpStatusCode.Gone);
        var (githubAgain, lockedLanding) = await GitHubSignInAsync(app);
        lockedLanding.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        lockedLanding.Headers.Location!.ToString().ShouldContain("Lockout");
        (await githubAgain.GetAsync("/dashboard")).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        (await adminKey.PostAsync($"/api/v1/admin/customers/{customer.Id}/unlock", JsonContent.Create(new { reason = "card owner confirmed" })))
            .StatusCode.ShouldBe(HttpStatusCode.OK);
        (await customerKey.GetAsync("/api/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await github.GetAsync("/dashboard")).StatusCode.ShouldBe(HttpStatusCode.Redirect, "an ended session stays ended");
        var (githubUnlocked, unlockedLanding) = await GitHubSignInAsync(app);
        unlockedLanding.Headers.Location!.ToString().ShouldBe("/dashboard");
        (await githubUnlocked.GetAsync("/dashboard")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await PasswordSignInAsync(app, GitHubEmail)).Headers.Location!.ToString().ShouldNotContain("Lockout");
        (await MagicLinkSignInAsync(app, customer.Id)).StatusCode.ShouldBe(HttpStatusCode.Redirect);
    }
}
