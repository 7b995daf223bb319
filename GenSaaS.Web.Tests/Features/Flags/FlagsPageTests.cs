using System.Net;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Features.Flags;
using GenSaaS.Web.Tests.Features.Admin;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.FeatureManagement;

namespace GenSaaS.Web.Tests.Features.Flags;

/// <summary>
/// <c>/admin/flags</c>: the list shows every flag; a change is reviewed, then confirmed, and is one audit entry; confirming twice
/// (a double click, a second tab) writes one; bad input is shown as an error and changes nothing; a customer gets 403.
/// </summary>
public sealed class FlagsPageTests(AdminTestApp app) : IClassFixture<AdminTestApp>
{
    private async Task ResetAsync(string name)
    {
        await app.Db.ExecuteAsync("DELETE FROM feature_flags WHERE name = @name", new { name });
        app.Services.GetRequiredService<FlagDefinitions>().Invalidate();
    }

    private async Task<long> FlagAuditCountAsync(string name) =>
        await app.ScalarAsync("SELECT count(*) FROM audit_log WHERE action = 'flag.set' AND target = @name", new { name });

    private sealed class Browser(HttpClient client, string url, string antiforgery)
    {
        public Task<HttpResponseMessage> PostAsync(string handler, Dictionary<string, string> fields) =>
            client.PostAsync($"{url}?handler={handler}", new FormUrlEncodedContent(new Dictionary<string, string>(fields) { ["__RequestVerificationToken"] = antiforgery }));
    }

    private async Task<(Browser Browser, HttpClient Client, string Page)> OpenAsync(string flag)
    {
        var (_, client) = await app.SignedInUserAsync(admin: true);
        var url = $"/admin/flags/{flag}";
        var page = await client.GetStringAsync(url);
        return (new Browser(client, url, TestApp.AntiforgeryToken(page)), client, page);
    }

    private static string Version(string page) =>
        System.Text.RegularExpressions.Regex.Match(page, "name=\"Input.Version\" value=\"([0-9]+)\"").Groups[1].Value;

    [Fact]
    public async Task List_ShowsEveryFlag_WithItsState_AndTheOverviewLinksToIt()
    {
        await ResetAsync(FlagNames.Bundles);
        var (_, client) = await app.SignedInUserAsync(admin: true);
        var page = await client.GetStringAsync("/admin/flags");
        foreach (var flag in FlagNames.All)
        {
            page.ShouldContain($"data-flag=\"{flag.Name}\"");
            page.ShouldContain(System.Net.WebUtility.HtmlEncode(flag.WhenOff).Replace("&#x2B;", "+"), Case.Insensitive, flag.Name);
        }
        page.ShouldContain("<tr data-testid=\"flag\" data-flag=\"bundles\" data-enabled=\"true\">");
        page.ShouldContain("On (never set)");
        (await client.GetStringAsync("/admin")).ShouldContain("href=\"/admin/flags\"");
        (await client.GetAsync("/admin/flags/no_such_flag")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Change_IsReviewedThenConfirmed_WritesOneAuditEntry_AndConfirmingTwiceWritesOne()
    {
        await ResetAsync(FlagNames.Generation);
        var listed = await app.CreateUserAsync($"flag-page-{Guid.NewGuid():N}@example.com");
        var (browser, client, page) = await OpenAsync(FlagNames.Generation);
        page.ShouldContain("data-testid=\"flag-form\"");
        var fields = new Dictionary<string, string>
        {
            ["Input.Enabled"] = "false", ["Input.Percentage"] = "40", ["Input.Accounts"] = listed.Email!.ToUpperInvariant(),
            ["Input.Message"] = "Back at 18:00", ["Input.Reason"] = "provider outage", ["Input.Version"] = Version(page),
        };

        var review = await browser.PostAsync("Review", fields);
        review.StatusCode.ShouldBe(HttpStatusCode.OK);
        var confirmation = await review.Content.ReadAsStringAsync();
        confirmation.ShouldContain("data-testid=\"flag-confirmation\"");
        confirmation.ShouldContain("off for everyone");
        confirmation.ShouldContain(listed.Email!);
        (await app.ScalarAsync("SELECT count(*) FROM feature_flags WHERE name = 'generation'")).ShouldBe(0);
        (await FlagAuditCountAsync(FlagNames.Generation)).ShouldBe(0);

        // Confirm, twice (a double click), then again from a second tab that showed the form before the change.
        var first = await browser.PostAsync("Apply", fields);
        first.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        first.Headers.Location!.ToString().ShouldBe("/admin/flags");
        (await browser.PostAsync("Apply", fields)).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await browser.PostAsync("Apply", fields)).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        (await FlagAuditCountAsync(FlagNames.Generation)).ShouldBe(1);
        var entry = (await app.AuditAsync(FlagNames.Generation, FlagStore.AuditAction)).ShouldHaveSingleItem();
        entry.Reason.ShouldBe("provider outage");
        entry.ActorKind.ShouldBe("admin");
        var after = JsonDocument.Parse(entry.AfterJson!).RootElement;
        after.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        after.GetProperty("percentage").GetInt32().ShouldBe(40);
        after.GetProperty("accounts").EnumerateArray().Select(a => a.GetString()).ShouldBe([listed.Id]);
        after.GetProperty("message").GetString().ShouldBe("Back at 18:00");

        var state = (await app.Services.GetRequiredService<FlagStore>().ReadAsync(FlagNames.Generation))!;
        (state.Enabled, state.Percentage, state.Message).ShouldBe((false, 40, "Back at 18:00"));
        (await app.Services.GetRequiredService<IFeatureManager>().IsOnAsync(FlagNames.Generation, listed.Id)).ShouldBeFalse();

        var list = await client.GetStringAsync("/admin/flags");
        list.ShouldContain("already was like that");
        list.ShouldContain("<tr data-testid=\"flag\" data-flag=\"generation\" data-enabled=\"false\">");
        list.ShouldContain("Back at 18:00");

        // A second tab with an older form asking for something else is refused: someone changed it since.
        var stale = await browser.PostAsync("Apply", new(fields) { ["Input.Enabled"] = "true" });
        stale.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await stale.Content.ReadAsStringAsync()).ShouldContain("Someone changed this flag");
        (await FlagAuditCountAsync(FlagNames.Generation)).ShouldBe(1);
        await ResetAsync(FlagNames.Generation);
    }

    [Theory]
    [InlineData("150", "", "r", "from 0 to 100")]
    [InlineData("-1", "", "r", "from 0 to 100")]
    [InlineData("abc", "", "r", "from 0 to 100")]
    [InlineData("", "", "r", "from 0 to 100")]
    [InlineData("50", "nobody-at-all@example.com", "r", "No account has the email or id: nobody-at-all@example.com")]
    [InlineData("50", "", "  ", "Say why")]
    public async Task BadInput_IsShownAsAnError_AndChangesNothing(string percentage, string accounts, string reason, string error)
    {
        await ResetAsync(FlagNames.Bundles);
        var (browser, _, page) = await OpenAsync(FlagNames.Bundles);
        foreach (var handler in new[] { "Review", "Apply" })
        {
            var answer = await browser.PostAsync(handler, new()
            {
                ["Input.Enabled"] = "false", ["Input.Percentage"] = percentage, ["Input.Accounts"] = accounts, ["Input.Message"] = "",
                ["Input.Reason"] = reason, ["Input.Version"] = Version(page),
            });
            answer.StatusCode.ShouldBe(HttpStatusCode.OK, handler);
            var html = await answer.Content.ReadAsStringAsync();
            html.ShouldContain(error, Case.Sensitive, handler);
            html.ShouldNotContain("data-testid=\"flag-confirmation\"", Case.Sensitive, handler);
        }
        (await app.ScalarAsync("SELECT count(*) FROM feature_flags WHERE name = 'bundles'")).ShouldBe(0);
        (await FlagAuditCountAsync(FlagNames.Bundles)).ShouldBe(0);
    }

    [Fact]
    public async Task ACustomer_Gets403_AndChangesNothing()
    {
        await ResetAsync(FlagNames.Bundles);
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        var antiforgery = TestApp.AntiforgeryToken(await admin.GetStringAsync("/admin/flags/bundles"));
        var (_, customer) = await app.SignedInUserAsync();
        (await customer.GetAsync("/admin/flags")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await customer.GetAsync("/admin/flags/bundles")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        var post = await customer.PostAsync("/admin/flags/bundles?handler=Apply", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Input.Enabled"] = "false", ["Input.Percentage"] = "100", ["Input.Reason"] = "r", ["Input.Version"] = "0", ["__RequestVerificationToken"] = antiforgery,
        }));
        post.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await app.ScalarAsync("SELECT count(*) FROM feature_flags WHERE name = 'bundles'")).ShouldBe(0);
        (await FlagAuditCountAsync(FlagNames.Bundles)).ShouldBe(0);
    }
}
