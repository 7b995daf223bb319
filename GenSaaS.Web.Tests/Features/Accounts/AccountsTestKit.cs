using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Accounts;
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

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        if (_environment is not null)
            builder.UseEnvironment(_environment);
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<TimeProvider>(Clock);
            TestServices?.Invoke(services);
        });
    }

    /// <summary>Messages the development outbox holds for one address, newest first.</summary>
    public IReadOnlyList<OutboxMessage> OutboxFor(string email) =>
        Services.GetRequiredService<OutboxEmailSender>().List().Where(m => m.To == email).ToList();
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
