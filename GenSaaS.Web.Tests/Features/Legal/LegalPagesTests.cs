using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Legal;
using GenSaaS.Web.Tests.Features.Shared;
using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Legal;

/// <summary><c>/terms</c> and <c>/privacy</c>: the operator's Markdown files in the data folder, rendered safely, linked from every page.</summary>
public sealed class LegalPagesTests
{
    internal static void Publish(TestApp app, string name, string markdown)
    {
        var folder = Path.Combine(app.DataDir, "legal");
        Directory.CreateDirectory(folder);
        var file = Path.Combine(folder, name + ".md");
        var before = File.Exists(file) ? File.GetLastWriteTimeUtc(file) : DateTime.MinValue;
        File.WriteAllText(file, markdown);
        // A rewrite within the file system's timestamp resolution must still look changed to the app.
        if (File.GetLastWriteTimeUtc(file) <= before)
            File.SetLastWriteTimeUtc(file, before.AddSeconds(1));
    }

    private const string Terms = """
        ---
        version: 2026-12-01
        ---
        # Terms of service

        You agree to **behave**. See [our privacy policy](/privacy) or <https://example.com/help>.

        | Plan | Price |
        | --- | --- |
        | Bundle | 10 € |

        - first
        - second
        """;

    [Fact]
    public async Task WithoutFiles_BothPagesSayNothingIsPublished_AndEveryPageLinksThem()
    {
        using var app = new TestApp();
        using var client = app.NewClient();
        foreach (var path in new[] { "/terms", "/privacy" })
        {
            var response = await client.GetAsync(path);
            response.StatusCode.ShouldBe(HttpStatusCode.OK, path);
            var html = await response.Content.ReadAsStringAsync();
            html.ShouldContain("data-testid=\"legal-not-published\"");
            html.ShouldContain("has not published");
            html.ShouldNotContain("data-testid=\"legal-document\"");
        }
        foreach (var page in new[] { "/", "/Identity/Account/Login", "/Identity/Account/Register", "/terms" })
        {
            var html = await client.GetStringAsync(page);
            html.ShouldContain("<a href=\"/terms\" data-testid=\"footer-terms\">", customMessage: page);
            html.ShouldContain("<a href=\"/privacy\" data-testid=\"footer-privacy\">", customMessage: page);
        }
        var (_, signedIn) = await app.SignedInUserAsync();
        (await signedIn.GetStringAsync("/dashboard")).ShouldContain("data-testid=\"footer-terms\"");
        (await client.GetAsync("/terms-of-service")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task TermsFile_IsRenderedFromMarkdown_WithTheVersionOfItsFrontMatter()
    {
        using var app = new TestApp();
        Publish(app, "terms", Terms);
        using var client = app.NewClient();
        var response = await client.GetAsync("/terms");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        SecurityHeadersTests.ShouldCarryTheSecurityHeaders(response, "/terms");
        var html = await response.Content.ReadAsStringAsync();
        html.ShouldContain("<h1 id=\"terms-of-service\">Terms of service</h1>");
        html.ShouldContain("<strong>behave</strong>");
        html.ShouldContain("<a href=\"/privacy\">our privacy policy</a>");
        html.ShouldContain("<a href=\"https://example.com/help\">https://example.com/help</a>");
        html.ShouldContain("<td>Bundle</td>");
        html.ShouldContain("<li>second</li>");
        html.ShouldContain("data-version=\"2026-12-01\"");
        html.ShouldContain("Version 2026-12-01");
        html.ShouldNotContain("version: 2026-12-01", Case.Sensitive, "the front matter is not shown");

        // The privacy policy is its own file: still unpublished.
        (await client.GetStringAsync("/privacy")).ShouldContain("data-testid=\"legal-not-published\"");
    }

    [Fact]
    public async Task WithoutAVersionLine_TheVersionIsTheFilesSha256_AndAnEditShowsAtOnce()
    {
        using var app = new TestApp();
        const string first = "# Privacy\n\nWe keep your email address.\n";
        Publish(app, "privacy", first);
        using var client = app.NewClient();
        var expected = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(first)))[..16];
        var html = await client.GetStringAsync("/privacy");
        html.ShouldContain($"data-version=\"{expected}\"");
        html.ShouldContain("We keep your email address.");

        Publish(app, "privacy", "# Privacy\n\nWe keep your email address and your prompts.\n");
        var edited = await client.GetStringAsync("/privacy");
        edited.ShouldContain("and your prompts.");
        edited.ShouldNotContain($"data-version=\"{expected}\"");

        File.Delete(Path.Combine(app.DataDir, "legal", "privacy.md"));
        (await client.GetStringAsync("/privacy")).ShouldContain("data-testid=\"legal-not-published\"");
    }

    private const string Hostile = """
        # Terms <script>alert('h1')</script>

        <script>alert(1)</script>

        <img src=x onerror=alert(2)>

        Inline <b onclick="alert(3)">bold</b> and <iframe src="https://evil.example"></iframe>.

        [click](javascript:alert(4)) [upper](JaVaScRiPt:alert(5)) [tab](java&#9;script:alert(6)) [data](data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==)

        <javascript:alert(8)> <vbscript:msgbox(9)>

        ![pic](javascript:alert(10))

        [ref link][evil]

        [evil]: javascript:alert(11)

        ## Heading {onclick="alert(12)"}

        [fine](https://example.com/ok) [mail](mailto:legal@example.com)
        """;

    [Fact]
    public async Task ScriptInTheMarkdown_IsShownAsText_NeverEmitted()
    {
        using var app = new TestApp();
        Publish(app, "terms", Hostile);
        using var client = app.NewClient();
        var response = await client.GetAsync("/terms");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        SecurityHeadersTests.ShouldCarryTheSecurityHeaders(response, "/terms");
        var html = await response.Content.ReadAsStringAsync();
        var article = Regex.Match(html, "<article class=\"card legal\"[^>]*>(.*?)</article>", RegexOptions.Singleline).Groups[1].Value;
        article.ShouldNotBeEmpty();

        // Every tag in the document is one Markdown makes, with no event handler and no script address.
        foreach (Match tag in Regex.Matches(article, @"<([a-zA-Z][a-zA-Z0-9]*)\b([^>]*)>"))
        {
            tag.Groups[1].Value.ToLowerInvariant().ShouldBeOneOf(["h1", "h2", "p", "a", "img", "em", "strong", "code", "ul", "ol", "li"], tag.Value);
            Regex.IsMatch(tag.Groups[2].Value, @"\son[a-z]+\s*=", RegexOptions.IgnoreCase).ShouldBeFalse(tag.Value);
            Regex.IsMatch(tag.Groups[2].Value, @"(href|src)\s*=\s*""\s*(javascript|vbscript|data):", RegexOptions.IgnoreCase).ShouldBeFalse(tag.Value);
        }
        html.ShouldNotContain("<script>alert");
        html.ShouldNotContain("<iframe");
        article.ShouldContain("&lt;script&gt;alert(1)&lt;/script&gt;");
        article.ShouldContain("<a href=\"#\">click</a>");
        article.ShouldContain("<a href=\"https://example.com/ok\">fine</a>");
        article.ShouldContain("<a href=\"mailto:legal@example.com\">mail</a>");
    }

    [Theory]
    [InlineData("https://example.com", true)]
    [InlineData("/privacy#cookies", true)]
    [InlineData("#section", true)]
    [InlineData("relative/page", true)]
    [InlineData("mailto:a@example.com", true)]
    [InlineData("/a:b", true)]
    [InlineData("javascript:alert(1)", false)]
    [InlineData(" JAVASCRIPT:alert(1)", false)]
    [InlineData("java\tscript:alert(1)", false)]
    [InlineData("java\nscript:alert(1)", false)]
    [InlineData("data:text/html,x", false)]
    [InlineData("vbscript:x", false)]
    public void OnlyWebMailAndPhoneSchemes_AreKeptInLinks(string url, bool kept) =>
        LegalDocuments.IsSafeUrl(url).ShouldBe(kept);

    [Theory]
    [InlineData("---\nversion: 3\n---\n# T", "3", "# T")]
    [InlineData("---\ntitle: x\nVersion: \"2026-12-01\"\n---\nbody", "2026-12-01", "body")]
    [InlineData("---\nversion:\n---\nbody", null, "body")]
    [InlineData("# No front matter\nversion: 2", null, "# No front matter\nversion: 2")]
    [InlineData("---\nversion: 4\nno end", null, "---\nversion: 4\nno end")]
    public void FrontMatter_GivesTheVersion(string text, string? version, string body)
    {
        var (parsedVersion, parsedBody) = LegalDocuments.SplitFrontMatter(text);
        parsedVersion.ShouldBe(version);
        parsedBody.ShouldBe(body);
    }
}
