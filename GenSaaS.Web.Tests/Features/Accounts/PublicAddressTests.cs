using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using netDumbster.smtp;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

/// <summary>Emailed links are built from App:PublicBaseUrl only: a forged Host header cannot point them at an attacker's site.</summary>
public sealed class PublicAddressTests : IDisposable
{
    private const string PublicBaseUrl = "https://gensaas.test";
    private const string Attacker = "evil.example";

    private readonly SimpleSmtpServer _smtp;
    private readonly AccountsApp _app;

    public PublicAddressTests()
    {
        var port = FreeTcpPort();
        _smtp = SimpleSmtpServer.Start(port);
        _app = new AccountsApp(new()
        {
            ["App:PublicBaseUrl"] = PublicBaseUrl,
            // Host filtering is the second line; the links must be right even where an operator allowed every host.
            ["AllowedHosts"] = "*",
            ["Email:Smtp:Host"] = "127.0.0.1",
            ["Email:Smtp:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Email:Smtp:Security"] = "None",
        });
    }

    public void Dispose()
    {
        _app.Dispose();
        _smtp.Dispose();
    }

    /// <summary>GET and POST of a form as a hostile client sends them: a foreign Host and X-Forwarded-Host on both.</summary>
    private static async Task<HttpResponseMessage> PostForgedAsync(HttpClient client, string url, Dictionary<string, string> fields, string? handler = null)
    {
        using var get = Forged(new HttpRequestMessage(HttpMethod.Get, url));
        var page = await (await client.SendAsync(get)).Content.ReadAsStringAsync();
        var form = new Dictionary<string, string>(fields) { ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(page) };
        using var post = Forged(new HttpRequestMessage(HttpMethod.Post, handler is null ? url : $"{url}?handler={handler}") { Content = new FormUrlEncodedContent(form) });
        return await client.SendAsync(post);
    }

    private static HttpRequestMessage Forged(HttpRequestMessage request)
    {
        request.Headers.Host = Attacker;
        request.Headers.Add("X-Forwarded-Host", Attacker);
        request.Headers.Add("X-Forwarded-Proto", "http");
        return request;
    }

    private async Task<IReadOnlyList<MimeMessage>> MessagesToAsync(string email, int count = 1) =>
        (await EventuallyAsync(() => _smtp.ReceivedEmail.Where(m => m.ToAddresses.Any(a => a.Address == email)), count))
            .Select(m => MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(m.Data))))
            .ToList();

    private static IReadOnlyList<string> Links(MimeMessage message) =>
        Regex.Matches(message.HtmlBody ?? "", "href=[\"']([^\"']+)[\"']").Select(m => WebUtility.HtmlDecode(m.Groups[1].Value)).ToList();

    [Fact]
    public async Task EveryEmailedLink_AskedForWithAForgedHost_StartsWithThePublicBaseUrl()
    {
        var newcomer = NewEmail();
        var existing = NewEmail();
        var unconfirmed = NewEmail();
        var signedIn = NewEmail();
        var changedTo = NewEmail();
        await _app.CreateUserAsync(existing);
        await _app.CreateUserAsync(unconfirmed, confirmed: false);
        using var client = _app.NewClient();

        (await PostForgedAsync(client, "/Identity/Account/Register", new() { ["Input.Email"] = newcomer, ["Input.Password"] = "Correct-Horse-9", ["Input.ConfirmPassword"] = "Correct-Horse-9" }))
            .StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await PostForgedAsync(client, "/Identity/Account/Register", new() { ["Input.Email"] = existing, ["Input.Password"] = "Correct-Horse-9", ["Input.ConfirmPassword"] = "Correct-Horse-9" }))
            .StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await PostForgedAsync(client, "/Identity/Account/ForgotPassword", new() { ["Input.Email"] = existing })).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await PostForgedAsync(client, "/Identity/Account/ResendEmailConfirmation", new() { ["Input.Email"] = unconfirmed })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await PostForgedAsync(client, "/account/magic-link", new() { ["Input.Email"] = existing })).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        await _app.CreateUserAsync(signedIn, confirmed: false);
        using var owner = await SignInThenUnconfirmAsync(signedIn);
        (await PostForgedAsync(owner, "/Identity/Account/Manage/Email", new() { ["Input.NewEmail"] = changedTo }, "ChangeEmail")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await PostForgedAsync(owner, "/Identity/Account/Manage/Email", new() { ["Input.NewEmail"] = signedIn }, "SendVerificationEmail")).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        var messages = new List<MimeMessage>();
        messages.AddRange(await MessagesToAsync(newcomer));
        messages.AddRange(await MessagesToAsync(existing, 3));
        messages.AddRange(await MessagesToAsync(unconfirmed));
        messages.AddRange(await MessagesToAsync(changedTo));
        messages.AddRange(await MessagesToAsync(signedIn));
        messages.Select(m => m.Subject).ShouldBe(
            ["Confirm your email", "You already have a GenSaaS account", "Reset your password", "Your GenSaaS sign-in link", "Confirm your email", "Confirm your email", "Confirm your email"],
            ignoreOrder: true);
        var links = messages.SelectMany(Links).ToList();
        links.Count.ShouldBeGreaterThanOrEqualTo(messages.Count);
        links.ShouldAllBe(link => link.StartsWith(PublicBaseUrl + "/", StringComparison.Ordinal));
        string.Join("\n", messages.Select(m => m.HtmlBody)).ShouldNotContain(Attacker);
    }

    /// <summary>A signed-in user whose address is unconfirmed (so that "send verification email" has something to send).</summary>
    private async Task<HttpClient> SignInThenUnconfirmAsync(string email)
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        var user = (await users.FindByEmailAsync(email))!;
        user.EmailConfirmed = true;
        await users.UpdateAsync(user);
        var client = await _app.SignInAsync(email);
        user = (await users.FindByEmailAsync(email))!;
        user.EmailConfirmed = false;
        await users.UpdateAsync(user);
        return client;
    }
}

/// <summary>What Production does about its public address: refuse to start without one, refuse foreign Host headers.</summary>
public sealed class PublicAddressProductionTests
{
    [Fact]
    public async Task Production_ForeignHostHeader_IsRefusedWith400_WhileThePublicHostAndLoopbackAreServed()
    {
        using var app = new AccountsApp(new(), environment: "Production");
        using var client = app.NewClient();
        foreach (var host in new[] { "evil.example", "gensaas.test.evil.example", "evil.example:443" })
        {
            using var forged = new HttpRequestMessage(HttpMethod.Get, "/Identity/Account/Login");
            forged.Headers.Host = host;
            (await client.SendAsync(forged)).StatusCode.ShouldBe(HttpStatusCode.BadRequest, host);
        }
        using var own = new HttpRequestMessage(HttpMethod.Get, "/Identity/Account/Login");
        own.Headers.Host = "gensaas.test";
        (await client.SendAsync(own)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.GetAsync("/healthz")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("Production", null, "App:PublicBaseUrl is not set: set App__PublicBaseUrl to the public https address")]
    [InlineData("Production", "  ", "App:PublicBaseUrl is not set: set App__PublicBaseUrl to the public https address")]
    [InlineData("Production", "gensaas.example.com", "is not an absolute http(s) address")]
    [InlineData("Development", "javascript:alert(1)", "is not an absolute http(s) address")]
    [InlineData("Production", "https://gensaas.example.com/?next=evil", "is not an absolute http(s) address")]
    public async Task WithoutAUsablePublicBaseUrl_TheAppRefusesToStart_WithOneClearLine(string environment, string? publicBaseUrl, string expected)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "gensaas-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDir);
        try
        {
            var start = new ProcessStartInfo("dotnet")
            {
                WorkingDirectory = AppContext.BaseDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "GenSaaS.Web.dll"));
            start.ArgumentList.Add("--urls");
            start.ArgumentList.Add($"http://127.0.0.1:{FreeTcpPort()}");
            start.Environment["ASPNETCORE_ENVIRONMENT"] = environment;
            start.Environment["DOTNET_ENVIRONMENT"] = environment;
            start.Environment["App__DataDir"] = dataDir;
            start.Environment.Remove("App__PublicBaseUrl");
            if (publicBaseUrl is not null)
                start.Environment["App__PublicBaseUrl"] = publicBaseUrl;

            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new ShouldAssertException("The app started instead of refusing to");
            }
            process.ExitCode.ShouldNotBe(0);
            var lines = (await error).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            lines.ShouldHaveSingleItem().ShouldContain(expected);
            (await output).ShouldNotContain("Exception");
        }
        finally
        {
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { }
        }
    }
}
