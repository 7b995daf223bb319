using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using GenSaaS.Web.Tests.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Shared;

/// <summary>
/// A browser that hits a wrong address, a page it may not see, or a fault gets the site's own page: the right status, the
/// layout with its navigation and a way on. API clients keep their problem+json.
/// </summary>
public sealed class ErrorPageTests(ProductionApp app) : IClassFixture<ProductionApp>
{
    private static async Task<HttpResponseMessage> BrowseAsync(HttpClient client, HttpMethod method, string url, bool htmx = false)
    {
        using var request = new HttpRequestMessage(method, url);
        request.Headers.Accept.ParseAdd("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
        if (htmx)
            request.Headers.Add("HX-Request", "true");
        return await client.SendAsync(request);
    }

    /// <summary>The site's page: the layout's header and navigation around the error, nothing only a developer should see.</summary>
    private static async Task<string> ShouldBeBrandedPageAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(status, body);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        body.ShouldStartWith("<!DOCTYPE html>");
        body.ShouldContain("<header class=\"topbar\">");
        body.ShouldContain("data-testid=\"error-page\"");
        body.ShouldContain($"data-status=\"{(int)status}\"");
        body.ShouldContain("data-testid=\"error-title\"");
        body.ShouldContain("data-testid=\"error-home\"");
        foreach (var leak in new[] { "   at ", "Exception", "System.", "GenSaaS.Web", "StatusCode" })
            body.ShouldNotContain(leak, Case.Sensitive, $"the page leaks '{leak}'");
        return body;
    }

    [Fact]
    public async Task UnknownPage_Is404_InTheLayout_ForVisitorsAndSignedInCustomers()
    {
        var anonymous = await ShouldBeBrandedPageAsync(await BrowseAsync(app.NewCrossSiteClient(), HttpMethod.Get, "/no-such-page"), HttpStatusCode.NotFound);
        anonymous.ShouldContain("We could not find that page.");
        anonymous.ShouldContain("href=\"/Identity/Account/Login\"");

        var (user, client) = await app.SignedInUserAsync();
        var signedIn = await ShouldBeBrandedPageAsync(await BrowseAsync(client, HttpMethod.Get, "/pricing/nothing-here?page=2"), HttpStatusCode.NotFound);
        signedIn.ShouldContain("<a href=\"/generate\">Generate</a>");
        signedIn.ShouldContain("<a href=\"/dashboard\">Dashboard</a>");
        signedIn.ShouldContain(user.Email!);
        signedIn.ShouldContain("data-testid=\"credits-remaining\"");
    }

    [Fact]
    public async Task UnknownPage_AskedByHtmx_IsA404Fragment()
    {
        var response = await BrowseAsync(app.NewCrossSiteClient(), HttpMethod.Get, "/no-such-fragment", htmx: true);
        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        var body = await response.Content.ReadAsStringAsync();
        body.ShouldStartWith("<div class=\"alert error\"");
        body.ShouldNotContain("<html");
        body.ShouldContain("We could not find that page.");
    }

    [Fact]
    public async Task ErrorPage_AskedForDirectly_IsA404()
    {
        var body = await ShouldBeBrandedPageAsync(await BrowseAsync(app.NewCrossSiteClient(), HttpMethod.Get, "/error/500"), HttpStatusCode.NotFound);
        body.ShouldNotContain("data-testid=\"request-id\"");
    }

    [Theory]
    [InlineData("/admin")]
    [InlineData("/admin/billing/events")]
    [InlineData("/hangfire")]
    public async Task AdminPage_ForACustomer_Is403_InTheLayout(string url)
    {
        var (_, customer) = await app.SignedInUserAsync();
        var body = await ShouldBeBrandedPageAsync(await BrowseAsync(customer, HttpMethod.Get, url), HttpStatusCode.Forbidden);
        body.ShouldContain("This page is not open to your account.");
        body.ShouldContain("href=\"/dashboard\"");
        body.ShouldNotContain("<a href=\"/admin\">Admin</a>");
    }

    [Fact]
    public async Task WrongMethod_OnAPageAddress_Is405_InTheLayout()
    {
        var response = await BrowseAsync(app.NewCrossSiteClient(), HttpMethod.Post, "/images/nothing.png");
        var body = await ShouldBeBrandedPageAsync(response, HttpStatusCode.MethodNotAllowed);
        body.ShouldContain("That page cannot be used this way.");
        response.Content.Headers.Allow.ShouldContain("GET");
    }

    [Fact]
    public async Task BadQuery_OnAPage_Is400_InTheLayout_SayingWhichParameter()
    {
        var (_, client) = await app.SignedInUserAsync();
        var body = await ShouldBeBrandedPageAsync(await BrowseAsync(client, HttpMethod.Get, "/generate?page=abc"), HttpStatusCode.BadRequest);
        body.ShouldContain("&#x27;page&#x27; must be a whole number");
    }

    [Theory]
    [InlineData("GET", "/api/v1/no-such-route", HttpStatusCode.NotFound, "not_found")]
    [InlineData("GET", "/api/nothing", HttpStatusCode.NotFound, "not_found")]
    [InlineData("DELETE", "/api/v1/me", HttpStatusCode.MethodNotAllowed, "method_not_allowed")]
    public async Task ApiAddresses_StayProblemJson_EvenForABrowser(string method, string url, HttpStatusCode status, string code)
    {
        var (_, client) = await app.SignedInUserAsync();
        var response = await BrowseAsync(client, new HttpMethod(method), url);
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(status, body);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        JsonDocument.Parse(body).RootElement.GetProperty("code").GetString().ShouldBe(code);
    }

    [Fact]
    public async Task FaultOnAPage_Is500_InTheLayout_WithARequestIdTheLogCarries_AndNoDetail()
    {
        var (_, client) = await app.SignedInUserAsync();
        var page = await client.GetStringAsync("/generate");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/generate")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["Input.Prompt"] = "anything",
                ["Input.IdempotencyKey"] = Guid.NewGuid().ToString("N"),
                ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(page),
            }),
        };
        request.Headers.Accept.ParseAdd("text/html");

        var response = await client.SendAsync(request);

        var body = await ShouldBeBrandedPageAsync(response, HttpStatusCode.InternalServerError);
        body.ShouldContain("Something went wrong on our side.");
        body.ShouldNotContain("bug in the backend");
        var requestId = Regex.Match(body, "data-testid=\"request-id\">([^<]+)<").Groups[1].Value;
        requestId.ShouldNotBeNullOrWhiteSpace();
        response.Headers.CacheControl!.NoStore.ShouldBeTrue();

        // The operator finds the fault by that id: one log entry carries both.
        await BillingTestApp.EventuallyAsync(() => Task.FromResult(LogEntries(app).Any(e => e.Contains(requestId) && e.Contains("bug in the backend"))),
            $"a log entry naming the request id {requestId} with the fault");
    }

    /// <summary>The app's log files, split into entries (each starts with its timestamp).</summary>
    private static IReadOnlyList<string> LogEntries(TestApp app)
    {
        var text = new System.Text.StringBuilder();
        foreach (var file in Directory.EnumerateFiles(app.DataDir, "gensaas-*.log", SearchOption.AllDirectories))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            text.Append(new StreamReader(stream).ReadToEnd());
        }
        return Regex.Split(text.ToString(), @"(?m)^(?=\d{4}-\d{2}-\d{2}T)");
    }
}
