using System.Net;
using System.Web;
using GenSaaS.Web.Tests.Infrastructure;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

public sealed class ExternalLoginTests
{
    private static AccountsApp Configured() => new(new()
    {
        ["Authentication:Google:ClientId"] = "google-client-id.apps.example",
        ["Authentication:Google:ClientSecret"] = "google-test-secret",
        ["Authentication:GitHub:ClientId"] = "github-client-id",
        ["Authentication:GitHub:ClientSecret"] = "github-test-secret",
    });

    private static async Task<Uri> ChallengeAsync(AccountsApp app, string provider)
    {
        using var client = app.NewClient();
        var login = await client.GetStringAsync("/Identity/Account/Login?returnUrl=%2Fgenerate");
        var response = await PostWithTokenAsync(client, "/Identity/Account/ExternalLogin?returnUrl=%2Fgenerate", login, new() { ["provider"] = provider });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        return response.Headers.Location!;
    }

    [Fact]
    public async Task Configured_TheSignInPageShowsBothButtons()
    {
        using var app = Configured();
        using var client = app.NewClient();
        var page = await client.GetStringAsync("/Identity/Account/Login");
        page.ShouldContain("name=\"provider\" value=\"Google\"");
        page.ShouldContain(">Sign in with Google</button>");
        page.ShouldContain("name=\"provider\" value=\"GitHub\"");
        page.ShouldContain(">Sign in with GitHub</button>");
    }

    [Fact]
    public async Task Configured_GitHubChallenge_RedirectsToGitHubWithClientIdAndCallback()
    {
        using var app = Configured();
        var location = await ChallengeAsync(app, "GitHub");
        location.GetLeftPart(UriPartial.Path).ShouldBe("https://github.com/login/oauth/authorize");
        var query = HttpUtility.ParseQueryString(location.Query);
        query["client_id"].ShouldBe("github-client-id");
        query["redirect_uri"].ShouldBe(new Uri(app.BaseAddress, "/signin-github").ToString());
        query["scope"]!.ShouldContain("user:email");
        query["state"].ShouldNotBeNullOrEmpty();
    }

    [Fact]
    public async Task Configured_GoogleChallenge_RedirectsToGoogleWithClientIdAndCallback()
    {
        using var app = Configured();
        var location = await ChallengeAsync(app, "Google");
        location.GetLeftPart(UriPartial.Path).ShouldBe("https://accounts.google.com/o/oauth2/v2/auth");
        var query = HttpUtility.ParseQueryString(location.Query);
        query["client_id"].ShouldBe("google-client-id.apps.example");
        query["redirect_uri"].ShouldBe(new Uri(app.BaseAddress, "/signin-google").ToString());
    }

    [Fact]
    public async Task NotConfigured_NoProviderButtons()
    {
        using var app = new AccountsApp();
        using var client = app.NewClient();
        var page = await client.GetStringAsync("/Identity/Account/Login");
        page.ShouldNotContain("name=\"provider\"");
        page.ShouldNotContain("Sign in with Google");
        page.ShouldNotContain("Sign in with GitHub");
    }

    [Fact]
    public async Task HalfConfigured_RefusesToStart()
    {
        using var app = new AccountsApp(new() { ["Authentication:GitHub:ClientId"] = "only-an-id" });
        var failure = Should.Throw<Exception>(() => app.NewClient());
        failure.ToString().ShouldContain("Authentication:GitHub needs both ClientId and ClientSecret");
        await Task.CompletedTask;
    }
}
