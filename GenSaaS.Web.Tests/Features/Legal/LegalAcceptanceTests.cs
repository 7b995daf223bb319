using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Legal;
using GenSaaS.Web.Tests.Features.Accounts;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static GenSaaS.Web.Tests.Features.Legal.LegalPagesTests;

namespace GenSaaS.Web.Tests.Features.Legal;

/// <summary>Acceptance of the operator's terms and privacy policy: at sign-up with a required box, and again when a version changes.</summary>
public sealed class LegalAcceptanceTests
{
    private const string TermsV1 = "---\nversion: 1\n---\n# Terms\n\nBe nice.\n";
    private const string TermsV2 = "---\nversion: 2\n---\n# Terms\n\nBe nicer.\n";
    private const string Privacy = "# Privacy\n\nWe keep your email.\n";

    internal static string Stamp(string html) =>
        WebUtility.HtmlDecode(Regex.Match(html, "name=\"LegalStamp\" value=\"([^\"]*)\"").Groups[1].Value);

    internal static async Task<IReadOnlyList<(string Document, string Version, string Via)>> AcceptancesAsync(TestApp app, string userId)
    {
        await using var connection = await app.Db.OpenAsync();
        return (await connection.QueryAsync<(string, string, string)>(
            "SELECT document, version, via FROM legal_acceptances WHERE user_id = @userId ORDER BY document, version", new { userId })).ToList();
    }

    private static async Task<long> UsersWithEmailAsync(TestApp app, string email)
    {
        await using var connection = await app.Db.OpenAsync();
        return await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM AspNetUsers WHERE NormalizedEmail = upper(@email)", new { email });
    }

    private static Dictionary<string, string> RegisterForm(string email, string? stamp, bool ticked)
    {
        var form = new Dictionary<string, string>
        {
            ["Input.Email"] = email,
            ["Input.Password"] = "Correct-Horse-9",
            ["Input.ConfirmPassword"] = "Correct-Horse-9",
        };
        if (stamp is not null) form["LegalStamp"] = stamp;
        if (ticked) form["AcceptLegal"] = "true";
        return form;
    }

    [Fact]
    public async Task Register_WithoutTheBox_FailsWithAClearError_AndCreatesNothing_WithIt_RecordsEachDocumentsVersion()
    {
        using var app = new AccountsApp();
        Publish(app, "terms", TermsV1);
        Publish(app, "privacy", Privacy);
        using var browser = app.NewClient();
        var page = await browser.GetStringAsync("/Identity/Account/Register");
        page.ShouldContain("data-testid=\"accept-legal\"");
        page.ShouldContain("<a href=\"/terms\"");
        page.ShouldContain("<a href=\"/privacy\"");
        var stamp = Stamp(page);
        stamp.ShouldStartWith("terms=1;privacy=sha256:");

        var email = AccountsTestKit.NewEmail();
        var refused = await TestApp.PostFormAsync(browser, "/Identity/Account/Register", RegisterForm(email, stamp, ticked: false));
        refused.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await refused.Content.ReadAsStringAsync();
        html.ShouldContain("Tick the box to accept the terms of service and the privacy policy to create an account.");
        (await UsersWithEmailAsync(app, email)).ShouldBe(0);

        // A box ticked on a page showing versions that are no longer current is not an acceptance of the current ones.
        var stale = await TestApp.PostFormAsync(browser, "/Identity/Account/Register", RegisterForm(email, "terms=0;privacy=sha256:0", ticked: true));
        stale.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await stale.Content.ReadAsStringAsync()).ShouldContain("changed while this page was open");
        (await UsersWithEmailAsync(app, email)).ShouldBe(0);
        await using (var connection = await app.Db.OpenAsync())
            (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM legal_acceptances")).ShouldBe(0);
        app.OutboxFor(email).ShouldBeEmpty();

        var accepted = await TestApp.PostFormAsync(browser, "/Identity/Account/Register", RegisterForm(email, stamp, ticked: true));
        accepted.StatusCode.ShouldBe(HttpStatusCode.Redirect, await accepted.Content.ReadAsStringAsync());
        accepted.Headers.Location!.ToString().ShouldContain("RegisterConfirmation");
        string userId;
        await using (var connection = await app.Db.OpenAsync())
            userId = (await connection.ExecuteScalarAsync<string>("SELECT Id FROM AspNetUsers WHERE NormalizedEmail = upper(@email)", new { email }))!;
        var rows = await AcceptancesAsync(app, userId);
        rows.Count.ShouldBe(2);
        rows[0].ShouldBe(("privacy", stamp.Split("privacy=")[1], LegalAcceptances.ViaSignUp));
        rows[1].ShouldBe(("terms", "1", LegalAcceptances.ViaSignUp));
        (await app.WaitForOutboxAsync(email)).ShouldHaveSingleItem();
    }

    [Fact]
    public async Task Register_WithNothingPublished_AsksNothing_AndRecordsNothing()
    {
        using var app = new AccountsApp();
        using var browser = app.NewClient();
        var page = await browser.GetStringAsync("/Identity/Account/Register");
        page.ShouldNotContain("accept-legal");
        var email = AccountsTestKit.NewEmail();
        var registered = await TestApp.PostFormAsync(browser, "/Identity/Account/Register", RegisterForm(email, null, ticked: false));
        registered.StatusCode.ShouldBe(HttpStatusCode.Redirect, await registered.Content.ReadAsStringAsync());
        (await UsersWithEmailAsync(app, email)).ShouldBe(1);
        await using var connection = await app.Db.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM legal_acceptances")).ShouldBe(0);
    }

    [Fact]
    public async Task NewVersion_SignedInUserIsAskedAgain_AcceptsOnce_AndIsBackWhereTheyWere_WhileApiKeysKeepWorking()
    {
        using var app = new TestApp();
        Publish(app, "terms", TermsV1);
        var (user, browser) = await app.SignedInUserAsync();
        // A user the operator made (or one from before any terms) has accepted nothing: asked at the first page.
        var first = await browser.GetAsync("/dashboard");
        first.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        first.Headers.Location!.ToString().ShouldBe("/legal/accept?returnUrl=%2Fdashboard");
        await app.Services.GetRequiredService<LegalAcceptances>().RecordAsync(user.Id,
            app.Services.GetRequiredService<LegalDocuments>().Published(), LegalAcceptances.ViaSignUp, CancellationToken.None);
        (await browser.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var key = (await app.Services.GetRequiredService<ApiKeyStore>().CreateAsync(user.Id, "script", [ApiKeyScopes.Read], CancellationToken.None))!.Value.Key;
        using var program = new HttpClient { BaseAddress = app.BaseAddress };
        program.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);

        Publish(app, "terms", TermsV2);
        var asked = await browser.GetAsync("/generate?prompt=a%20cat");
        asked.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var acceptUrl = asked.Headers.Location!.ToString();
        acceptUrl.ShouldBe("/legal/accept?returnUrl=%2Fgenerate%3Fprompt%3Da%2520cat");

        // Every other page sends them there too; htmx is told to go there; the API with the cookie says why.
        (await browser.GetAsync("/billing")).Headers.Location!.ToString().ShouldStartWith("/legal/accept?returnUrl=%2Fbilling");
        using (var htmx = new HttpRequestMessage(HttpMethod.Get, "/dashboard"))
        {
            htmx.Headers.Add("HX-Request", "true");
            var answer = await browser.SendAsync(htmx);
            answer.Headers.GetValues("HX-Redirect").Single().ShouldBe("/legal/accept?returnUrl=%2Fdashboard");
        }
        var cookieApi = await browser.GetAsync("/api/v1/me");
        cookieApi.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        using (var problem = JsonDocument.Parse(await cookieApi.Content.ReadAsStringAsync()))
            problem.RootElement.GetProperty("code").GetString().ShouldBe("terms_not_accepted");
        // The documents, the accept page and account settings stay open; an API key keeps working.
        (await browser.GetAsync("/terms")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await browser.GetAsync("/Identity/Account/Manage")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await program.GetAsync("/api/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var acceptPage = await browser.GetStringAsync(acceptUrl);
        acceptPage.ShouldContain("data-testid=\"legal-accept-form\"");
        acceptPage.ShouldContain("(version 2)");
        acceptPage.ShouldNotContain("privacy policy (version", Case.Insensitive, "only the published document is named");
        var stamp = Stamp(acceptPage);
        stamp.ShouldBe("terms=2");

        var unticked = await TestApp.PostFormAsync(browser, acceptUrl, new() { ["LegalStamp"] = stamp, ["ReturnUrl"] = "/generate?prompt=a%20cat" });
        unticked.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await unticked.Content.ReadAsStringAsync()).ShouldContain("Tick the box to accept the terms of service to go on using the site.");
        (await AcceptancesAsync(app, user.Id)).Count.ShouldBe(1);

        // Two tabs: both forms are shown, both are sent; one acceptance, both land where they were going.
        var secondTab = await browser.GetStringAsync(acceptUrl);
        foreach (var tab in new[] { acceptPage, secondTab })
        {
            var form = new Dictionary<string, string>
            {
                ["AcceptLegal"] = "true", ["LegalStamp"] = Stamp(tab), ["ReturnUrl"] = "/generate?prompt=a%20cat",
                ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(tab),
            };
            var accepted = await browser.PostAsync(acceptUrl, new FormUrlEncodedContent(form));
            accepted.StatusCode.ShouldBe(HttpStatusCode.Redirect, await accepted.Content.ReadAsStringAsync());
            accepted.Headers.Location!.ToString().ShouldBe("/generate?prompt=a%20cat");
        }
        (await browser.GetAsync("/generate?prompt=a%20cat")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await browser.GetAsync("/api/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var rows = await AcceptancesAsync(app, user.Id);
        rows.ShouldBe(new[] { ("terms", "1", LegalAcceptances.ViaSignUp), ("terms", "2", LegalAcceptances.ViaAskedAgain) });

        // A page of the accept form opened with nothing left to accept goes straight back; a return address off the site is refused.
        var nothingLeft = await browser.GetAsync("/legal/accept?returnUrl=https%3A%2F%2Fevil.example%2F");
        nothingLeft.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        nothingLeft.Headers.Location!.ToString().ShouldBe("/");

        // Publishing a privacy policy later asks for it alone.
        Publish(app, "privacy", Privacy);
        (await browser.GetAsync("/dashboard")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        Stamp(await browser.GetStringAsync("/legal/accept?returnUrl=%2Fdashboard")).ShouldStartWith("privacy=sha256:");
    }

    [Fact]
    public async Task AcceptPage_NeedsASession_AndAFormPostIsSentBackToItsPage()
    {
        using var app = new TestApp();
        Publish(app, "terms", TermsV1);
        using var anonymous = app.NewClient();
        var signedOut = await anonymous.GetAsync("/legal/accept");
        signedOut.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        signedOut.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login");
        // Signed-out visitors read everything without being asked.
        (await anonymous.GetAsync("/")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var (_, browser) = await app.SignedInUserAsync();
        var generatePage = await browser.GetAsync("/generate");
        generatePage.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        using var post = new HttpRequestMessage(HttpMethod.Post, "/generate?x=1")
        {
            Content = new FormUrlEncodedContent([new("Prompt", "a cat")]),
        };
        var posted = await browser.SendAsync(post);
        posted.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        posted.Headers.Location!.ToString().ShouldBe("/legal/accept?returnUrl=%2Fgenerate");
        await using var connection = await app.Db.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM usage")).ShouldBe(0);
    }
}
