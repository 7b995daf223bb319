using System.Net;
using GenSaaS.Web.Tests.Features.Accounts;
using GenSaaS.Web.Tests.Infrastructure;
using MimeKit;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Emails;

/// <summary>What a mail client and the development mailbox get: one message with a text part and an HTML part.</summary>
public sealed class MailPartsTests
{
    [Fact]
    public async Task OverSmtp_AnAccountEmail_IsMultipartAlternative_TextThenHtml_WithTheSameLink()
    {
        using var smtp = new SmtpCatcher();
        using var app = new AccountsApp(smtp.Settings(new() { ["App:PublicBaseUrl"] = "https://gensaas.test" }));
        var email = NewEmail();
        await app.CreateUserAsync(email);
        using var client = app.NewClient();
        (await TestApp.PostFormAsync(client, "/account/magic-link", new() { ["Input.Email"] = email })).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        var message = (await EventuallyAsync(() => smtp.To(email))).ShouldHaveSingleItem();
        var alternative = message.Body.ShouldBeOfType<MultipartAlternative>();
        alternative.Select(part => part.ContentType.MimeType).ShouldBe(["text/plain", "text/html"]);
        var htmlLink = FirstLink(message.HtmlBody ?? "");
        htmlLink.ShouldStartWith("https://gensaas.test/account/magic-link/sign-in?token=");
        (message.TextBody ?? "").ShouldContain(htmlLink);
        (message.TextBody ?? "").ShouldNotContain("<a ");
    }

    [Fact]
    public async Task TheDevMailbox_ShowsTheHtmlPartRendered_AndTheTextPartAsText()
    {
        using var app = new AccountsApp();
        var email = NewEmail();
        await app.CreateUserAsync(email);
        using var client = app.NewClient();
        (await TestApp.PostFormAsync(client, "/account/magic-link", new() { ["Input.Email"] = email })).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var kept = (await app.WaitForOutboxAsync(email)).ShouldHaveSingleItem();

        var page = await client.GetStringAsync($"/dev/mailbox/{kept.Id}");
        var html = page[page.IndexOf("data-testid=\"mail-body\"", StringComparison.Ordinal)..page.IndexOf("data-testid=\"mail-text\"", StringComparison.Ordinal)];
        html.ShouldContain(">Sign in to GenSaaS</a>");
        // The message's own document wrapper is not nested into the page's.
        page.Split("<html", StringSplitOptions.None).Length.ShouldBe(2);
        page.Split("<title>", StringSplitOptions.None).Length.ShouldBe(2);
        var text = page[page.IndexOf("data-testid=\"mail-text\"", StringComparison.Ordinal)..];
        text.ShouldContain("Sign in to GenSaaS with this link:");
        text.ShouldContain(WebUtility.HtmlEncode(FirstLink(html)).Replace("&#x2B;", "+"));
        text[..text.IndexOf("</pre>", StringComparison.Ordinal)].ShouldNotContain("<a ");
    }

    [Fact]
    public async Task AnAddressWithAScriptTag_AskedForByAUser_ArrivesAsText_InTheMailAndTheMailbox()
    {
        using var app = new AccountsApp();
        var email = NewEmail();
        await app.CreateUserAsync(email);
        using var client = await app.SignInAsync(email);
        const string hostile = "<script>alert(1)</script>@example.com";

        var changed = await TestApp.PostFormAsync(client, "/Identity/Account/Manage/Email?handler=ChangeEmail", new() { ["Input.NewEmail"] = hostile });
        changed.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var kept = (await app.WaitForOutboxAsync(hostile)).ShouldHaveSingleItem();

        kept.Subject.ShouldBe("Confirm your email");
        kept.HtmlBody.ShouldNotContain("<script");
        kept.HtmlBody.ShouldContain("You asked to use &lt;script&gt;alert(1)&lt;/script&gt;@example.com for your GenSaaS account");
        kept.TextBody.ShouldNotBeNull().ShouldContain($"You asked to use {hostile} for your GenSaaS account");
        var page = await client.GetStringAsync($"/dev/mailbox/{kept.Id}");
        page.ShouldNotContain("<script>alert(1)");
        page.ShouldContain("&lt;script&gt;alert(1)&lt;/script&gt;@example.com");
    }
}
