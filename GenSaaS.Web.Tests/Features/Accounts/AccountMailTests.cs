using System.Net;
using System.Text;
using GenSaaS.Web.Tests.Infrastructure;
using MimeKit;
using netDumbster.smtp;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

/// <summary>Mail is sent by a background job: an SMTP outage neither fails the request nor changes its answer.</summary>
public sealed class AccountMailTests : IDisposable
{
    private readonly int _smtpPort = FreeTcpPort();
    private readonly AccountsApp _app;
    private SimpleSmtpServer? _smtp;

    public AccountMailTests()
    {
        _app = new AccountsApp(new()
        {
            ["Email:Smtp:Host"] = "127.0.0.1",
            ["Email:Smtp:Port"] = _smtpPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Email:Smtp:Security"] = "None",
            ["Email:Smtp:TimeoutSeconds"] = "5",
        });
    }

    public void Dispose()
    {
        _app.Dispose();
        _smtp?.Dispose();
    }

    [Fact]
    public async Task Register_WhileSmtpIsDown_AnswersTheSamePage_AndTheMailGoesOutWhenSmtpIsBack()
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
        (await browser.GetStringAsync(registered.Headers.Location!.ToString())).ShouldContain("Please check your email");

        // The first attempt meets a closed port; the job's retry finds the relay up.
        await Task.Delay(1500);
        _smtp = SimpleSmtpServer.Start(_smtpPort);
        var raw = (await EventuallyAsync(() => _smtp.ReceivedEmail.Where(m => m.ToAddresses.Any(a => a.Address == email)), timeoutSeconds: 60)).ShouldHaveSingleItem();
        var message = MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(raw.Data)));
        message.Subject.ShouldBe("Confirm your email");

        var confirmed = await browser.GetAsync(PathAndQuery(FirstLink(message.HtmlBody ?? "")));
        (await confirmed.Content.ReadAsStringAsync()).ShouldContain("Thank you for confirming your email.");
        await _app.SignInAsync(email);
    }
}
