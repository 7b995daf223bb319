using Microsoft.Playwright;

namespace GenSaaS.E2E.Infrastructure;

/// <summary>One app process and one headless Chromium per test class; each test gets its own browser context.</summary>
public sealed class E2EFixture : IAsyncLifetime
{
    /// <summary>Debian's chromium package installs here; CHROMIUM_PATH points elsewhere.</summary>
    private const string DefaultChromium = "/usr/bin/chromium";

    // Without the networking flags Chromium keeps calling Google's hosts, which this closed network refuses.
    private static readonly string[] ChromiumArgs =
    [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic",
    ];

    private AppServer? _app;
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public AppServer App => _app ?? throw new InvalidOperationException("The fixture has not started");

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("The fixture has not started");

    public async Task InitializeAsync()
    {
        var chromium = Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path ? path : DefaultChromium;
        if (!File.Exists(chromium))
            throw new FileNotFoundException("Chromium is missing: install Debian's chromium package (scripts/test.sh does) or set CHROMIUM_PATH", chromium);

        _app = await AppServer.StartAsync();
        _playwright = await Playwright.CreateAsync();
        // A non-persistent launch gives Chromium a new, empty user data dir that Playwright deletes on close.
        _browser = await _playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ChromiumArgs,
        });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
            await _browser.CloseAsync();
        _playwright?.Dispose();
        if (_app is not null)
            await _app.DisposeAsync();
    }
}
