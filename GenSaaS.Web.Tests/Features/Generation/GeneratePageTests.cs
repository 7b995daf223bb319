using System.Net;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Tests.Features.Credits;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Generation;

public sealed class GeneratePageTests(CreditsTestApp app) : IClassFixture<CreditsTestApp>
{
    private static Dictionary<string, string> Form(string prompt, string key) => new()
    {
        ["Input.Prompt"] = prompt,
        ["Input.IdempotencyKey"] = key,
    };

    private static readonly Dictionary<string, string> Htmx = new() { ["HX-Request"] = "true" };

    [Fact]
    public async Task HtmxPost_SwapsInTheResult_WithThumbnail_NewKey_AndHeaderCredits()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 2, "test", $"page-{user.Id}", "test");

        var response = await TestApp.PostFormAsync(client, "/generate", Form("a red kite", "page-key-1"), Htmx);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await response.Content.ReadAsStringAsync();
        html.ShouldContain("data-testid=\"generation-thumbnail\"");
        html.ShouldNotContain("<html");
        html.ShouldContain("hx-swap-oob");
        html.ShouldNotContain("value=\"page-key-1\"", customMessage: "the next submit needs a fresh idempotency key");
        html.ShouldContain("<span data-testid=\"credits-remaining\">1</span>");
        response.Headers.Vary.ShouldContain("HX-Request");
    }

    [Fact]
    public async Task DoubleSubmit_WithTheSameFormKey_ChargesOnce()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 3, "test", $"double-{user.Id}", "test");
        await TestApp.PostFormAsync(client, "/generate", Form("twice", "same-key"), Htmx);
        await TestApp.PostFormAsync(client, "/generate", Form("twice", "same-key"), Htmx);
        (await app.BalanceAsync(user.Id)).Prepaid.ShouldBe(2);
    }

    [Fact]
    public async Task NoCredits_ShowsWhy_AndLinksToBuyingCredits()
    {
        var (_, client) = await app.SignedInUserAsync();
        var response = await TestApp.PostFormAsync(client, "/generate", Form("anything", "k"), Htmx);
        response.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        var html = await response.Content.ReadAsStringAsync();
        html.ShouldContain("data-testid=\"generation-error\"");
        html.ShouldContain("href=\"/billing\"");
    }

    [Fact]
    public async Task NoCredits_HtmxAnswer_IsOnlyTheResultArea_AndHandsTheFormANewKey()
    {
        var (user, client) = await app.SignedInUserAsync();
        var response = await TestApp.PostFormAsync(client, "/generate", Form("nothing to pay with", "no-credit-key"), Htmx);

        response.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        var html = (await response.Content.ReadAsStringAsync()).Trim();
        // site.js puts an error answer into the result area as it is: anything meant for elsewhere would be repeated there.
        html.ShouldStartWith("<div class=\"alert error\" data-testid=\"generation-error\"");
        html.ShouldEndWith("</div>");
        foreach (var elsewhere in new[] { "hx-swap-oob", "account-status", "credits-remaining", "generation-history", "gallery", "Nothing yet", "Input.IdempotencyKey" })
            html.ShouldNotContain(elsewhere, Case.Sensitive, $"the error fragment repeats '{elsewhere}'");
        html.ShouldContain("href=\"/billing\"");

        var trigger = System.Text.Json.JsonDocument.Parse(response.Headers.GetValues("HX-Trigger").Single()).RootElement;
        var next = trigger.GetProperty("gensaas:idempotency-key").GetString()!;
        next.ShouldMatch("^[0-9a-f]{32}$");
        next.ShouldNotBe("no-credit-key");

        // Credits bought in another tab: the next submit, with the key the form was handed, makes the image.
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 1, "test", $"after-{user.Id}", "test");
        var retried = await TestApp.PostFormAsync(client, "/generate", Form("nothing to pay with", next), Htmx);
        retried.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await retried.Content.ReadAsStringAsync()).ShouldContain("data-testid=\"generation-thumbnail\"");
        (await app.BalanceAsync(user.Id)).Prepaid.ShouldBe(0);
    }

    [Fact]
    public async Task PlainPost_WithoutJavaScript_RedirectsToTheResult()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 1, "test", $"plain-{user.Id}", "test");
        var response = await TestApp.PostFormAsync(client, "/generate", Form("no js here", "plain-key"));
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var location = response.Headers.Location!.ToString();
        location.ShouldStartWith("/generate?show=");
        var page = await client.GetStringAsync(location);
        page.ShouldContain("data-testid=\"generation-thumbnail\"");
        page.ShouldContain("no js here");
    }

    [Fact]
    public async Task EmptyPrompt_ShowsTheFieldError_AndChargesNothing()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 1, "test", $"empty-{user.Id}", "test");
        var response = await TestApp.PostFormAsync(client, "/generate", Form("", "empty-key"));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldContain("Enter a prompt.");
        (await app.BalanceAsync(user.Id)).Prepaid.ShouldBe(1);
    }

    [Fact]
    public async Task Header_ShowsCreditsAndPlan()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Services.GetRequiredService<CreditLedger>().GrantAsync(user.Id, CreditBucket.Prepaid, 10, "test", $"hdr-{user.Id}", "test");
        var page = await client.GetStringAsync("/generate");
        page.ShouldContain("<span data-testid=\"credits-remaining\">10</span>");
        page.ShouldContain("data-testid=\"plan-name\">Prepaid credits<");
    }
}
