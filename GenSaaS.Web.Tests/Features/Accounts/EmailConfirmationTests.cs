using System.Net;
using System.Text;
using GenSaaS.Web.Tests.Infrastructure;
using MimeKit;
using netDumbster.smtp;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

/// <summary>Registration and password reset over real SMTP: MailKit in the app talking to netDumbster in the test.</summary>
public sealed class EmailConfirmationTests : IDisposable
{
    private readonly SimpleSmtpServer _smtp;
    private readonly AccountsApp _app;

    public EmailConfirmationTests()
    {
        var port = FreeTcpPort();
        _smtp = SimpleSmtpServer.Start(port);
        _app = new AccountsApp(new()
        {
            ["Email:Smtp:Host"] = "127.0.0.1",
            ["Email:Smtp:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Email:Smtp:Security"] = "None",
            ["Email:From"] = "GenSaaS <no-reply@gensaas.test>",
        });
    }

    public void Dispose()
    {
        _app.Dispose();
        _smtp.Dispose();
    }

    private async Task<MimeMessage> SingleMessageTo(string email)
    {
        var raw = (await EventuallyAsync(() => _smtp.ReceivedEmail.Where(m => m.ToAddresses.Any(a => a.Address == email)))).ShouldHaveSingleItem();
        return MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(raw.Data)));
    }

    [Fact]
    public async Task Register_SendsConfirmationOverSmtp_AndSignInWorksOnlyAfterFollowingTheLink()
    {
        var email = NewEmail();
        using var browser = _app.NewClient();
        var registered = await TestApp.PostFormAsync(browser, "/Identity/Account/Register", new()
        {
            ["Input.Email"] = email,
            ["Input.Password"] = "Correct-Horse-9",
            ["Input.ConfirmPassword"] = "Correct-Horse-9",
        });
        registered.StatusCode.ShouldBe(HttpStatusCode.Redirect, await registered.Content.ReadAsStringAsync());
        registered.Headers.Location!.ToString().ShouldContain("RegisterConfirmation");
        var confirmationPage = await browser.GetStringAsync(registered.Headers.Location!.ToString());
        confirmationPage.ShouldContain("Please check your email");

        var message = await SingleMessageTo(email);
        message.From.Mailboxes.Single().Address.ShouldBe("no-reply@gensaas.test");
        message.Subject.ShouldBe("Confirm your email");

        using var before = _app.NewClient();
        var refused = await TestApp.PostFormAsync(before, "/Identity/Account/Login", new() { ["Input.Email"] = email, ["Input.Password"] = "Correct-Horse-9" });
        refused.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await refused.Content.ReadAsStringAsync()).ShouldContain("Confirm your email address first");

        var link = FirstLink(message.HtmlBody ?? "");
        link.ShouldStartWith(_app.BaseAddress.ToString().TrimEnd('/') + "/Identity/Account/ConfirmEmail");
        var confirmed = await browser.GetAsync(PathAndQuery(link));
        confirmed.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await confirmed.Content.ReadAsStringAsync()).ShouldContain("Thank you for confirming your email.");

        var signedIn = await _app.SignInAsync(email);
        (await signedIn.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task ForgotPassword_SendsResetLinkOverSmtp_AndTheNewPasswordSignsIn()
    {
        var email = NewEmail();
        await _app.CreateUserAsync(email);
        using var browser = _app.NewClient();
        var asked = await TestApp.PostFormAsync(browser, "/Identity/Account/ForgotPassword", new() { ["Input.Email"] = email });
        asked.StatusCode.ShouldBe(HttpStatusCode.Redirect);

        var message = await SingleMessageTo(email);
        message.Subject.ShouldBe("Reset your password");
        var resetPath = PathAndQuery(FirstLink(message.HtmlBody ?? ""));
        var resetPage = await browser.GetStringAsync(resetPath);
        var code = WebUtility.HtmlDecode(System.Text.RegularExpressions.Regex.Match(resetPage, "id=\"Input_Code\" name=\"Input.Code\" value=\"([^\"]+)\"").Groups[1].Value);
        code.ShouldNotBeEmpty(resetPage);
        var reset = await TestApp.PostFormAsync(browser, resetPath, new()
        {
            ["Input.Email"] = email,
            ["Input.Password"] = "New-Horse-Battery-7",
            ["Input.ConfirmPassword"] = "New-Horse-Battery-7",
            ["Input.Code"] = code,
        });
        reset.StatusCode.ShouldBe(HttpStatusCode.Redirect, await reset.Content.ReadAsStringAsync());
        reset.Headers.Location!.ToString().ShouldContain("ResetPasswordConfirmation");

        await _app.SignInAsync(email, "New-Horse-Battery-7");
    }
}
