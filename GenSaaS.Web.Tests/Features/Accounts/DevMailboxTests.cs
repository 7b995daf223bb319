using System.Net;
using GenSaaS.Web.Tests.Infrastructure;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

public sealed class DevMailboxTests
{
    [Fact]
    public async Task WithoutSmtp_InDevelopment_TheMailboxListsTheMessage_AndShowsItsLinkClickable()
    {
        using var app = new AccountsApp();
        var email = NewEmail();
        await app.CreateUserAsync(email);
        using var client = app.NewClient();
        (await TestApp.PostFormAsync(client, "/account/magic-link", new() { ["Input.Email"] = email })).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        var outbox = (await EventuallyAsync(() => Directory.GetFiles(Path.Combine(app.DataDir, "outbox"), "*.json"))).ToArray();
        outbox.Length.ShouldBe(1);

        var list = await client.GetStringAsync("/dev/mailbox");
        list.ShouldContain(email);
        var id = Path.GetFileNameWithoutExtension(outbox[0]);
        list.ShouldContain($"<a href=\"/dev/mailbox/{id}\">Your GenSaaS sign-in link</a>");

        var page = await client.GetStringAsync($"/dev/mailbox/{id}");
        page.ShouldContain("<h1>Your GenSaaS sign-in link</h1>");
        page.ShouldContain(email);
        var link = FirstLink(page[page.IndexOf("data-testid=\"mail-body\"", StringComparison.Ordinal)..]);
        link.ShouldContain("/account/magic-link/sign-in?token=");
        (await client.GetAsync(PathAndQuery(link))).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task NewestMessage_IsListedFirst()
    {
        using var app = new AccountsApp();
        var first = NewEmail();
        var second = NewEmail();
        await app.CreateUserAsync(first);
        await app.CreateUserAsync(second);
        using var client = app.NewClient();
        await TestApp.PostFormAsync(client, "/account/magic-link", new() { ["Input.Email"] = first });
        (await app.WaitForOutboxAsync(first)).ShouldHaveSingleItem();
        app.Clock.Advance(TimeSpan.FromSeconds(1));
        await TestApp.PostFormAsync(client, "/account/magic-link", new() { ["Input.Email"] = second });
        (await app.WaitForOutboxAsync(second)).ShouldHaveSingleItem();

        var list = await client.GetStringAsync("/dev/mailbox");
        list.IndexOf(second, StringComparison.Ordinal).ShouldBeLessThan(list.IndexOf(first, StringComparison.Ordinal));
    }

    [Fact]
    public async Task OutsideDevelopment_TheMailboxDoesNotExist()
    {
        using var app = new AccountsApp(new(), environment: "Production");
        using var client = app.NewClient();
        (await client.GetAsync("/dev/mailbox")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await client.GetAsync("/dev/mailbox/20260101000000-abc")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}
