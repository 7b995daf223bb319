using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Emails;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Accounts;

/// <summary>A clock the test moves by hand; the app reads time only through <see cref="TimeProvider"/>.</summary>
public sealed class FakeClock : TimeProvider
{
    private DateTimeOffset _now = DateTimeOffset.UtcNow;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>The real app with extra settings, a chosen environment, and a clock the test controls.</summary>
public sealed class AccountsApp : TestApp
{
    private readonly string? _environment;

    public AccountsApp() : this(new Dictionary<string, string?>()) { }

    internal AccountsApp(Dictionary<string, string?> settings, string? environment = null, string? dataDir = null) : base(settings, dataDir)
    {
        _environment = environment;
    }

    public FakeClock Clock { get; } = new();

    /// <summary>Extra service registrations applied after the app's own, e.g. a fake provider backchannel.</summary>
    public Action<IServiceCollection>? TestServices { get; init; }

    protected override string EnvironmentName => _environment ?? base.EnvironmentName;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<TimeProvider>(Clock);
            TestServices?.Invoke(services);
        });
    }

    /// <summary>Messages the development outbox holds for one address, newest first.</summary>
    public IReadOnlyList<OutboxMessage> OutboxFor(string email) =>
        Services.GetRequiredService<OutboxMailSender>().List().Where(m => m.To == email).ToList();

    /// <summary>Mail is sent by a background job: waits until the outbox holds <paramref name="count"/> messages for the address.</summary>
    public async Task<IReadOnlyList<OutboxMessage>> WaitForOutboxAsync(string email, int count = 1, int timeoutSeconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            var messages = OutboxFor(email);
            if (messages.Count >= count || DateTime.UtcNow > deadline)
                return messages;
            await Task.Delay(100);
        }
    }
}

public static class AccountsTestKit
{
    public static string NewEmail() => $"user-{Guid.NewGuid():N}@example.com";

    /// <summary>The first link in an HTML body, decoded as a browser would.</summary>
    public static string FirstLink(string html)
    {
        var match = Regex.Match(html, "href=[\"']([^\"']+)[\"']");
        match.Success.ShouldBeTrue($"No link in: {html}");
        return WebUtility.HtmlDecode(match.Groups[1].Value);
    }

    /// <summary>The path and query of an absolute link, so any client of the same app can follow it.</summary>
    public static string PathAndQuery(string url) => new Uri(url).PathAndQuery;

    /// <summary>Waits until <paramref name="read"/> yields at least <paramref name="count"/> items (mail arrives from a background job).</summary>
    public static async Task<IReadOnlyList<T>> EventuallyAsync<T>(Func<IEnumerable<T>> read, int count = 1, int timeoutSeconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            List<T> items;
            try
            {
                items = read().ToList();
            }
            catch (Exception ex) when (ex is IndexOutOfRangeException or ArgumentException or InvalidOperationException && DateTime.UtcNow < deadline)
            {
                // netDumbster's list of received mail is not safe to read while a message arrives: read again.
                items = [];
            }
            if (items.Count >= count || DateTime.UtcNow > deadline)
                return items;
            await Task.Delay(100);
        }
    }

    public static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<HttpResponseMessage> PostWithTokenAsync(HttpClient client, string url, string tokenSourceHtml, Dictionary<string, string> fields)
    {
        var form = new Dictionary<string, string>(fields) { ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(tokenSourceHtml) };
        return await client.PostAsync(url, new FormUrlEncodedContent(form));
    }
}
