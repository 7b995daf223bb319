using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Shared;

/// <summary>The headers on every kind of answer, and pages that a strict Content-Security-Policy does not break.</summary>
public sealed class SecurityHeadersTests(TestApp app) : IClassFixture<TestApp>
{
    private static readonly string[] SignedOutPages =
    [
        "/", "/Identity/Account/Login", "/Identity/Account/Register", "/Identity/Account/ForgotPassword",
        "/Identity/Account/ResendEmailConfirmation", "/account/magic-link", "/Identity/Account/AccessDenied", "/terms", "/privacy",
    ];

    private static readonly string[] SignedInPages =
    [
        "/", "/dashboard", "/generate", "/billing", "/billing/cancel", "/account/api-keys", "/Identity/Account/Manage",
        "/Identity/Account/Manage/Email", "/Identity/Account/Manage/ChangePassword", "/Identity/Account/Manage/TwoFactorAuthentication",
        "/Identity/Account/Manage/PersonalData",
    ];

    private static readonly string[] AdminPages = ["/admin", "/admin/billing/events", "/dev/mailbox", "/emulator/dev"];

    private static readonly string[] DashboardPages = ["/hangfire", "/hangfire/jobs/enqueued", "/hangfire/recurring", "/hangfire/servers"];

    internal static void ShouldCarryTheSecurityHeaders(HttpResponseMessage response, string what)
    {
        var csp = Header(response, "Content-Security-Policy", what);
        csp.ShouldContain("script-src 'self'", Case.Sensitive, what);
        Regex.Match(csp, "script-src[^;]*").Value.ShouldNotContain("unsafe", Case.Sensitive, what);
        csp.ShouldContain("frame-ancestors 'none'", Case.Sensitive, what);
        csp.ShouldContain("object-src 'none'", Case.Sensitive, what);
        csp.ShouldContain("base-uri 'self'", Case.Sensitive, what);
        csp.ShouldContain("form-action 'self'", Case.Sensitive, what);
        Header(response, "X-Content-Type-Options", what).ShouldBe("nosniff");
        Header(response, "X-Frame-Options", what).ShouldBe("DENY");
        Header(response, "Referrer-Policy", what).ShouldBeOneOf("strict-origin-when-cross-origin", "no-referrer");
        Header(response, "Permissions-Policy", what).ShouldContain("camera=()");
    }

    private static string Header(HttpResponseMessage response, string name, string what)
    {
        var found = response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values);
        found.ShouldBeTrue($"{what} ({(int)response.StatusCode}) has no {name}");
        return string.Join(", ", values!);
    }

    /// <summary>No script or style written into the page: all of it must come from files the policy allows.</summary>
    private static void ShouldHaveNoInlineCode(string html, string what, bool inlineStylesAllowed = false)
    {
        foreach (Match script in Regex.Matches(html, @"<script\b([^>]*)>(.*?)</script\s*>", RegexOptions.Singleline | RegexOptions.IgnoreCase))
        {
            script.Groups[1].Value.ShouldContain("src=", Case.Insensitive, $"{what} has an inline script: {script.Value}");
            script.Groups[2].Value.Trim().ShouldBeEmpty($"{what} has script text: {script.Value}");
        }
        foreach (Match tag in Regex.Matches(html, @"<[a-zA-Z][^>]*>"))
        {
            Regex.IsMatch(tag.Value, @"\son[a-z]+\s*=", RegexOptions.IgnoreCase).ShouldBeFalse($"{what} has an event handler attribute: {tag.Value}");
            Regex.IsMatch(tag.Value, @"\shref\s*=\s*[""']?\s*javascript:", RegexOptions.IgnoreCase).ShouldBeFalse($"{what} has a javascript: link: {tag.Value}");
            if (!inlineStylesAllowed)
                Regex.IsMatch(tag.Value, @"\sstyle\s*=", RegexOptions.IgnoreCase).ShouldBeFalse($"{what} has a style attribute: {tag.Value}");
        }
        if (!inlineStylesAllowed)
            Regex.IsMatch(html, @"<style\b", RegexOptions.IgnoreCase).ShouldBeFalse($"{what} has a <style> block");
    }

    /// <summary>Every script and stylesheet a page names must load, carry the headers, and be served as what it is.</summary>
    private async Task ShouldLoadItsAssetsAsync(HttpClient client, string html, string what)
    {
        var assets = Regex.Matches(html, @"<(?:script|link)\b[^>]*\s(?:src|href)=""([^""]+\.(?:js|css)(?:\?[^""]*)?)""", RegexOptions.IgnoreCase)
            .Select(m => WebUtility.HtmlDecode(m.Groups[1].Value)).Distinct();
        foreach (var asset in assets)
        {
            var response = await client.GetAsync(asset);
            response.StatusCode.ShouldBe(HttpStatusCode.OK, $"{asset} named by {what}");
            ShouldCarryTheSecurityHeaders(response, asset);
        }
    }

    private async Task CheckPagesAsync(HttpClient client, IEnumerable<string> urls, bool inlineStylesAllowed = false)
    {
        foreach (var url in urls)
        {
            var response = await client.GetAsync(url);
            var html = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.OK, $"{url}: {html[..Math.Min(html.Length, 500)]}");
            ShouldCarryTheSecurityHeaders(response, url);
            ShouldHaveNoInlineCode(html, url, inlineStylesAllowed);
            await ShouldLoadItsAssetsAsync(client, html, url);
        }
    }

    [Fact]
    public async Task EveryPage_SignedOut_CarriesTheHeaders_AndHasNoInlineCode()
    {
        using var client = app.NewClient();
        await CheckPagesAsync(client, SignedOutPages);
    }

    [Fact]
    public async Task EveryPage_SignedIn_CarriesTheHeaders_AndHasNoInlineCode()
    {
        var (_, client) = await app.SignedInUserAsync();
        await CheckPagesAsync(client, SignedInPages);

        var checkout = await client.PostAsJsonAsync("/api/billing/checkout", new { plan = "bundle_10" });
        checkout.StatusCode.ShouldBe(HttpStatusCode.OK, await checkout.Content.ReadAsStringAsync());
        var url = new Uri((await checkout.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("url").GetString()!).PathAndQuery;
        await CheckPagesAsync(client, [url]);
    }

    [Fact]
    public async Task EveryAdminPage_CarriesTheHeaders_AndHasNoInlineCode_TheJobDashboardOnlyInlineStyles()
    {
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        await CheckPagesAsync(admin, AdminPages);
        await CheckPagesAsync(admin, DashboardPages, inlineStylesAllowed: true);

        var dashboard = await admin.GetAsync("/hangfire");
        Header(dashboard, "Content-Security-Policy", "/hangfire").ShouldContain("style-src 'self' 'unsafe-inline'");
        var page = await admin.GetAsync("/admin");
        Regex.Match(Header(page, "Content-Security-Policy", "/admin"), "style-src[^;]*").Value.ShouldBe("style-src 'self'");
    }

    [Theory]
    [InlineData("/api/v1/me", HttpStatusCode.Unauthorized)]
    [InlineData("/api/v1/generations/nope", HttpStatusCode.Unauthorized)]
    [InlineData("/no-such-page", HttpStatusCode.NotFound)]
    [InlineData("/css/site.css", HttpStatusCode.OK)]
    [InlineData("/js/site.js", HttpStatusCode.OK)]
    [InlineData("/vendor/htmx/htmx.min.js", HttpStatusCode.OK)]
    [InlineData("/css/no-such-file.css", HttpStatusCode.NotFound)]
    [InlineData("/healthz", HttpStatusCode.OK)]
    [InlineData("/generate?page=NaN", HttpStatusCode.Found)]
    [InlineData("/hangfire", HttpStatusCode.Found)]
    public async Task EveryOtherAnswer_CarriesTheHeaders(string url, HttpStatusCode status)
    {
        using var client = app.NewClient();
        var response = await client.GetAsync(url);
        response.StatusCode.ShouldBe(status);
        ShouldCarryTheSecurityHeaders(response, url);
    }

    [Fact]
    public async Task ARefusedRequest_CarriesTheHeaders()
    {
        var (_, client) = await app.SignedInUserAsync();
        var badInput = await client.GetAsync("/api/v1/generations?page=NaN");
        badInput.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        ShouldCarryTheSecurityHeaders(badInput, "bad input");

        client.DefaultRequestHeaders.Remove("X-Requested-With");
        var forged = await client.PostAsync("/api/billing/portal", null);
        forged.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        ShouldCarryTheSecurityHeaders(forged, "forged post");
    }

    [Theory]
    [InlineData("/account/magic-link/sign-in?email=a%40example.com&token=abc")]
    [InlineData("/Identity/Account/ResetPassword?code=abc")]
    [InlineData("/Identity/Account/ConfirmEmail?userId=x&code=abc")]
    [InlineData("/Identity/Account/ConfirmEmailChange?userId=x&email=a%40example.com&code=abc")]
    [InlineData("/billing/success?session_id=cs_test_abc")]
    public async Task PagesWhoseAddressCarriesASecret_SendNoReferrer(string url)
    {
        var (_, client) = await app.SignedInUserAsync();
        var response = await client.GetAsync(url);
        Header(response, "Referrer-Policy", url).ShouldBe("no-referrer");
        ShouldCarryTheSecurityHeaders(response, url);
    }

    [Fact]
    public async Task OrdinaryPages_SendOnlyTheOriginToOtherSites()
    {
        using var client = app.NewClient();
        Header(await client.GetAsync("/Identity/Account/Login"), "Referrer-Policy", "login").ShouldBe("strict-origin-when-cross-origin");
    }
}

/// <summary>The same headers on the answer the exception handler writes outside Development (it clears the response first).</summary>
public sealed class ErrorAnswerHeadersTests(ProductionApp app) : IClassFixture<ProductionApp>
{
    [Fact]
    public async Task AnUnexpectedFault_StillCarriesTheHeaders()
    {
        var (_, client) = await app.SignedInUserAsync();
        var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "anything" });
        response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        SecurityHeadersTests.ShouldCarryTheSecurityHeaders(response, "500 problem");

        var page = await TestApp.PostFormAsync(client, "/generate", new()
        {
            ["Input.Prompt"] = "anything",
            ["Input.IdempotencyKey"] = Guid.NewGuid().ToString("N"),
        });
        page.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        SecurityHeadersTests.ShouldCarryTheSecurityHeaders(page, "500 page");
    }
}
