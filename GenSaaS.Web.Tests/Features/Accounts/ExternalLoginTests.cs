using System.Net;
using System.Text;
using System.Web;
using Dapper;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Authentication.OAuth;
using Microsoft.Extensions.DependencyInjection;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

public sealed class ExternalLoginTests
{
    private static AccountsApp Configured(Action<IServiceCollection>? testServices = null) => new(new()
    {
        ["Authentication:Google:ClientId"] = "google-client-id.apps.example",
        ["Authentication:Google:ClientSecret"] = "google-test-secret",
        ["Authentication:GitHub:ClientId"] = "github-client-id",
        ["Authentication:GitHub:ClientSecret"] = "github-test-secret",
    })
    { TestServices = testServices };

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

    private const string VerifiedPrimary = """[{"email":"old@example.com","primary":false,"verified":true},{"email":"octo-private@example.com","primary":true,"verified":true}]""";
    private const string UnverifiedPrimary = """[{"email":"octo-private@example.com","primary":true,"verified":false}]""";

    /// <summary>Stands in for GitHub's token and API endpoints; refuses API calls without the token or a User-Agent, as GitHub does.</summary>
    private sealed class FakeGitHub(string emailsJson) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var url = request.RequestUri!.GetLeftPart(UriPartial.Path);
            var authorised = request.Headers.Authorization?.Parameter == "gho_test_token" && request.Headers.UserAgent.Count > 0;
            var (status, json) = url switch
            {
                "https://github.com/login/oauth/access_token" when request.Method == HttpMethod.Post =>
                    (HttpStatusCode.OK, """{"access_token":"gho_test_token","token_type":"bearer","scope":"read:user,user:email"}"""),
                "https://api.github.com/user" when authorised =>
                    (HttpStatusCode.OK, """{"id":4242,"login":"octo","name":"Octo Cat","email":null}"""),
                "https://api.github.com/user/emails" when authorised => (HttpStatusCode.OK, emailsJson),
                _ => (HttpStatusCode.Forbidden, "{}"),
            };
            return Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") });
        }
    }

    /// <summary>Signs in with the fake GitHub: challenge, provider callback, and the app's own callback page.</summary>
    private static Task<(HttpClient Browser, HttpResponseMessage Landing)> GitHubSignInAsync(AccountsApp app) =>
        ProviderSignInAsync(app, "GitHub", "/signin-github");

    private static async Task<(HttpClient Browser, HttpResponseMessage Landing)> ProviderSignInAsync(AccountsApp app, string provider, string callbackPath)
    {
        var cookies = new CookieContainer();
        var browser = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = app.BaseAddress };
        var login = await browser.GetStringAsync("/Identity/Account/Login?returnUrl=%2Fgenerate");
        var challenge = await PostWithTokenAsync(browser, "/Identity/Account/ExternalLogin?returnUrl=%2Fgenerate", login, new() { ["provider"] = provider });
        var state = HttpUtility.ParseQueryString(challenge.Headers.Location!.Query)["state"]!;
        // The correlation cookie is Secure (a real deployment is on https); over the test's plain http it is carried by hand.
        var correlation = challenge.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(".AspNetCore.Correlation.", StringComparison.Ordinal));
        var (name, value) = (correlation[..correlation.IndexOf('=')], correlation[(correlation.IndexOf('=') + 1)..correlation.IndexOf(';')]);
        cookies.Add(app.BaseAddress, new Cookie(name, value, callbackPath));

        var callback = await browser.GetAsync($"{callbackPath}?code=test-code&state={Uri.EscapeDataString(state)}");
        callback.StatusCode.ShouldBe(HttpStatusCode.Redirect, await callback.Content.ReadAsStringAsync());
        return (browser, await browser.GetAsync(callback.Headers.Location!.ToString()));
    }

    private static async Task<string?> EmailOfGitHubUserAsync(AccountsApp app)
    {
        await using var connection = await app.Db.OpenAsync();
        return await connection.ExecuteScalarAsync<string?>("""
            SELECT u.Email FROM AspNetUserLogins l JOIN AspNetUsers u ON u.Id = l.UserId
            WHERE l.LoginProvider = 'GitHub' AND l.ProviderKey = '4242'
            """);
    }

    private static AccountsApp WithFakeGitHub(string emailsJson) =>
        Configured(services => services.Configure<OAuthOptions>("GitHub", o => o.BackchannelHttpHandler = new FakeGitHub(emailsJson)));

    [Fact]
    public async Task GitHub_WithAVerifiedPrivatePrimaryEmail_CreatesAConfirmedAccount_AndSignsIn_ThenSignsInAgain()
    {
        using var app = WithFakeGitHub(VerifiedPrimary);
        var (browser, landing) = await GitHubSignInAsync(app);
        using (browser)
        {
            landing.StatusCode.ShouldBe(HttpStatusCode.Redirect, await landing.Content.ReadAsStringAsync());
            landing.Headers.Location!.ToString().ShouldBe("/generate");
            (await browser.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        (await EmailOfGitHubUserAsync(app)).ShouldBe("octo-private@example.com");
        app.OutboxFor("octo-private@example.com").ShouldBeEmpty();

        var (again, secondLanding) = await GitHubSignInAsync(app);
        using (again)
        {
            secondLanding.StatusCode.ShouldBe(HttpStatusCode.Redirect);
            (await again.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task GitHub_WithoutAVerifiedEmail_AsksForAnAddress_AndSendsAConfirmationLink()
    {
        using var app = WithFakeGitHub(UnverifiedPrimary);
        var (browser, landing) = await GitHubSignInAsync(app);
        using var _ = browser;
        landing.StatusCode.ShouldBe(HttpStatusCode.OK);
        var form = await landing.Content.ReadAsStringAsync();
        form.ShouldContain("<label for=\"Input_Email\">Email</label>");

        var created = await PostWithTokenAsync(browser, "/Identity/Account/ExternalLogin?handler=Confirmation&returnUrl=%2Fgenerate", form,
            new() { ["Input.Email"] = "octo-typed@example.com" });
        created.StatusCode.ShouldBe(HttpStatusCode.Redirect, await created.Content.ReadAsStringAsync());
        created.Headers.Location!.ToString().ShouldContain("RegisterConfirmation");
        (await browser.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.Redirect, "not signed in before confirming");
        (await EmailOfGitHubUserAsync(app)).ShouldBe("octo-typed@example.com");
        (await app.WaitForOutboxAsync("octo-typed@example.com")).ShouldHaveSingleItem().Subject.ShouldBe("Confirm your email");

        var (again, refused) = await GitHubSignInAsync(app);
        using (again)
        {
            refused.StatusCode.ShouldBe(HttpStatusCode.Redirect);
            refused.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login");
            (await again.GetStringAsync(refused.Headers.Location!.ToString())).ShouldContain("Confirm your email address first");
        }
    }

    [Fact]
    public async Task GitHub_WithTheAddressOfAnExistingAccount_DoesNotTakeItOver()
    {
        using var app = WithFakeGitHub(VerifiedPrimary);
        await app.CreateUserAsync("octo-private@example.com");
        var (browser, landing) = await GitHubSignInAsync(app);
        using var _ = browser;
        landing.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await landing.Content.ReadAsStringAsync()).ShouldContain("An account with octo-private@example.com already exists.");
        (await browser.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await EmailOfGitHubUserAsync(app)).ShouldBeNull();
    }

    [Theory]
    [InlineData("GitHub")]
    [InlineData("Google")]
    public async Task WithTermsPublished_AVerifiedFirstSignIn_AsksForTheBox_RefusesWithoutIt_AndRecordsTheAcceptance(string provider)
    {
        using var app = provider == "GitHub"
            ? WithFakeGitHub(VerifiedPrimary)
            : Configured(services => services.Configure<Microsoft.AspNetCore.Authentication.Google.GoogleOptions>("Google",
                o => o.BackchannelHttpHandler = new FakeGoogle(verified: true)));
        var address = provider == "GitHub" ? "octo-private@example.com" : "goo@example.com";
        Legal.LegalPagesTests.Publish(app, "terms", "---\nversion: 7\n---\n# Terms\n");
        var (browser, landing) = await ProviderSignInAsync(app, provider, provider == "GitHub" ? "/signin-github" : "/signin-google");
        using var _ = browser;
        landing.StatusCode.ShouldBe(HttpStatusCode.OK, "the form, not an account made at once");
        var form = await landing.Content.ReadAsStringAsync();
        form.ShouldContain("data-testid=\"accept-legal\"");
        form.ShouldContain($"value=\"{address}\"");
        await using (var connection = await app.Db.OpenAsync())
            (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM AspNetUsers")).ShouldBe(0);

        var refused = await PostWithTokenAsync(browser, "/Identity/Account/ExternalLogin?handler=Confirmation&returnUrl=%2Fgenerate", form,
            new() { ["Input.Email"] = address, ["LegalStamp"] = Legal.LegalAcceptanceTests.Stamp(form) });
        refused.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await refused.Content.ReadAsStringAsync()).ShouldContain("Tick the box to accept the terms of service to create an account.");
        await using (var connection = await app.Db.OpenAsync())
            (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM AspNetUsers")).ShouldBe(0);

        var created = await PostWithTokenAsync(browser, "/Identity/Account/ExternalLogin?handler=Confirmation&returnUrl=%2Fgenerate", form,
            new() { ["Input.Email"] = address, ["LegalStamp"] = Legal.LegalAcceptanceTests.Stamp(form), ["AcceptLegal"] = "true" });
        created.StatusCode.ShouldBe(HttpStatusCode.Redirect, await created.Content.ReadAsStringAsync());
        created.Headers.Location!.ToString().ShouldBe("/generate", "the provider vouched for the address: signed in at once");
        (await browser.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.OK, "accepted at sign-up: not asked again");
        await using (var connection = await app.Db.OpenAsync())
        {
            var userId = await connection.ExecuteScalarAsync<string>("SELECT Id FROM AspNetUsers WHERE Email = @address", new { address });
            (await Legal.LegalAcceptanceTests.AcceptancesAsync(app, userId!)).ShouldBe(new[] { ("terms", "7", "sign_up") });
        }
    }

    /// <summary>Stands in for Google's token and userinfo endpoints.</summary>
    private sealed class FakeGoogle(bool verified) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var url = request.RequestUri!.GetLeftPart(UriPartial.Path);
            var (status, json) = url switch
            {
                "https://oauth2.googleapis.com/token" => (HttpStatusCode.OK, """{"access_token":"ya29.test","token_type":"Bearer","expires_in":3599}"""),
                "https://www.googleapis.com/oauth2/v3/userinfo" when request.Headers.Authorization?.Parameter == "ya29.test" =>
                    (HttpStatusCode.OK, $$"""{"sub":"1089","name":"Goo Gle","email":"goo@example.com","email_verified":{{(verified ? "true" : "false")}}}"""),
                _ => (HttpStatusCode.Forbidden, "{}"),
            };
            return Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") });
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Google_VerifiedAddressSignsInAtOnce_UnverifiedOneIsAskedToConfirm(bool verified)
    {
        using var app = Configured(services => services.Configure<Microsoft.AspNetCore.Authentication.Google.GoogleOptions>("Google",
            o => o.BackchannelHttpHandler = new FakeGoogle(verified)));
        var (browser, landing) = await ProviderSignInAsync(app, "Google", "/signin-google");
        using var _ = browser;
        if (verified)
        {
            landing.StatusCode.ShouldBe(HttpStatusCode.Redirect, await landing.Content.ReadAsStringAsync());
            (await browser.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        else
        {
            landing.StatusCode.ShouldBe(HttpStatusCode.OK);
            (await landing.Content.ReadAsStringAsync()).ShouldContain("value=\"goo@example.com\"");
            (await browser.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
    }
}
