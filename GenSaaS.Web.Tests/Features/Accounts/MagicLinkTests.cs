using System.Net;
using GenSaaS.Web.Tests.Infrastructure;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

public sealed class MagicLinkTests : IDisposable
{
    private readonly AccountsApp _app = new();

    public void Dispose() => _app.Dispose();

    private async Task<string> AskForLinkAsync(string email, string returnUrl = "/generate")
    {
        using var client = _app.NewClient();
        var response = await TestApp.PostFormAsync(client, $"/account/magic-link?returnUrl={Uri.EscapeDataString(returnUrl)}", new() { ["Input.Email"] = email });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().ShouldBe("/account/magic-link/sent");
        var message = (await _app.WaitForOutboxAsync(email)).ShouldHaveSingleItem();
        message.Subject.ShouldBe("Your GenSaaS sign-in link");
        return PathAndQuery(FirstLink(message.HtmlBody));
    }

    [Fact]
    public async Task MagicLink_SignsInOnce_ConfirmsEmail_AndASecondUseShowsTheExpiredPage()
    {
        var email = NewEmail();
        await _app.CreateUserAsync(email, confirmed: false);
        var link = await AskForLinkAsync(email);

        using var browser = _app.NewClient();
        var landing = await browser.GetAsync(link);
        landing.StatusCode.ShouldBe(HttpStatusCode.OK);
        var landingHtml = await landing.Content.ReadAsStringAsync();
        landingHtml.ShouldContain(">Sign in</button>");
        (await browser.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.Redirect, "looking at the link must not sign in");

        var signedIn = await PostWithTokenAsync(browser, link, landingHtml, new() { ["Token"] = Token(link), ["ReturnUrl"] = "/generate" });
        signedIn.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        signedIn.Headers.Location!.ToString().ShouldBe("/generate");
        var generate = await browser.GetAsync("/generate");
        generate.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await generate.Content.ReadAsStringAsync()).ShouldContain("Generate an image");

        using var again = _app.NewClient();
        var reused = await again.GetAsync(link);
        reused.StatusCode.ShouldBe(HttpStatusCode.Gone);
        var reusedHtml = await reused.Content.ReadAsStringAsync();
        reusedHtml.ShouldContain("This sign-in link has expired or was already used");
        reusedHtml.ShouldContain("href=\"/account/magic-link\"");
        var replay = await PostWithTokenAsync(again, link, await again.GetStringAsync("/account/magic-link"), new() { ["Token"] = Token(link), ["ReturnUrl"] = "/generate" });
        replay.StatusCode.ShouldBe(HttpStatusCode.Gone);
        (await again.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        // The link proved the address, so password sign-in (which needs a confirmed email) now works too.
        await _app.SignInAsync(email);
    }

    [Fact]
    public async Task MagicLink_UsedAfterTenMinutes_ShowsTheExpiredPage_AndDoesNotSignIn()
    {
        var email = NewEmail();
        await _app.CreateUserAsync(email);
        var link = await AskForLinkAsync(email);
        using var browser = _app.NewClient();
        var landingHtml = await browser.GetStringAsync(link);

        _app.Clock.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));

        var late = await PostWithTokenAsync(browser, link, landingHtml, new() { ["Token"] = Token(link), ["ReturnUrl"] = "/generate" });
        late.StatusCode.ShouldBe(HttpStatusCode.Gone);
        (await late.Content.ReadAsStringAsync()).ShouldContain("This sign-in link has expired or was already used");
        (await browser.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await browser.GetAsync(link)).StatusCode.ShouldBe(HttpStatusCode.Gone);
    }

    [Fact]
    public async Task MagicLink_JustBeforeTenMinutes_StillWorks()
    {
        var email = NewEmail();
        await _app.CreateUserAsync(email);
        var link = await AskForLinkAsync(email);
        _app.Clock.Advance(TimeSpan.FromMinutes(9));
        using var browser = _app.NewClient();
        var landingHtml = await browser.GetStringAsync(link);
        var response = await PostWithTokenAsync(browser, link, landingHtml, new() { ["Token"] = Token(link), ["ReturnUrl"] = "/generate" });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await browser.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task UnknownAddress_GetsTheSameAnswer_AndNoEmail()
    {
        var email = NewEmail();
        using var client = _app.NewClient();
        var response = await TestApp.PostFormAsync(client, "/account/magic-link", new() { ["Input.Email"] = email });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().ShouldBe("/account/magic-link/sent");
        (await client.GetStringAsync("/account/magic-link/sent")).ShouldContain("Check your email");
        _app.OutboxFor(email).ShouldBeEmpty();
    }

    [Fact]
    public async Task UnknownToken_ShowsTheExpiredPage()
    {
        using var client = _app.NewClient();
        var response = await client.GetAsync("/account/magic-link/sign-in?token=not-a-real-token");
        response.StatusCode.ShouldBe(HttpStatusCode.Gone);
        (await response.Content.ReadAsStringAsync()).ShouldContain("This sign-in link has expired or was already used");
    }

    [Fact]
    public async Task ForeignReturnUrl_IsReplacedByTheDashboard()
    {
        var email = NewEmail();
        await _app.CreateUserAsync(email);
        var link = await AskForLinkAsync(email, returnUrl: "//evil.example.com/");
        using var browser = _app.NewClient();
        var landingHtml = await browser.GetStringAsync(link);
        var response = await PostWithTokenAsync(browser, link, landingHtml, new() { ["Token"] = Token(link), ["ReturnUrl"] = "//evil.example.com/" });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().ShouldBe("/dashboard");
    }

    [Fact]
    public async Task SignInPage_LinksToTheMagicLinkPage_WhichHasALabelledEmailField()
    {
        using var client = _app.NewClient();
        (await client.GetStringAsync("/Identity/Account/Login")).ShouldContain("href=\"/account/magic-link?returnUrl=");
        var page = await client.GetStringAsync("/account/magic-link");
        page.ShouldContain("<label for=\"Input_Email\">Email</label>");
    }

    [Fact]
    public async Task Links_AreStoredOnlyAsHashes_AndAskingTooOftenIsRefusedWith429()
    {
        const int perAddress = 5;
        var email = NewEmail();
        var user = await _app.CreateUserAsync(email);
        var link = await AskForLinkAsync(email);
        using var client = _app.NewClient();
        for (var i = 1; i < perAddress; i++)
            (await TestApp.PostFormAsync(client, "/account/magic-link", new() { ["Input.Email"] = email })).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var refused = await TestApp.PostFormAsync(client, "/account/magic-link", new() { ["Input.Email"] = email });
        refused.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        refused.Headers.RetryAfter!.Delta!.Value.TotalSeconds.ShouldBeInRange(1, 600);
        (await _app.WaitForOutboxAsync(email, perAddress)).Count.ShouldBe(perAddress);
        await Task.Delay(2000);
        _app.OutboxFor(email).Count.ShouldBe(perAddress, "the refused request must send nothing");

        await using var connection = await _app.Db.OpenAsync();
        var hashes = (await Dapper.SqlMapper.QueryAsync<string>(connection, "SELECT token_hash FROM magic_links WHERE user_id = @id", new { id = user.Id })).ToList();
        hashes.Count.ShouldBe(perAddress);
        hashes.ShouldNotContain(Token(link));
        hashes.ShouldContain(GenSaaS.Web.Features.Accounts.Secrets.Hash(Token(link)));
        Token(link).Length.ShouldBeGreaterThanOrEqualTo(43);
    }

    private static string Token(string link) =>
        System.Web.HttpUtility.ParseQueryString(new Uri("http://x" + link).Query)["token"]!;
}
