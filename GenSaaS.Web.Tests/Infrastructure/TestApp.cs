using System.Net;
using System.Text.RegularExpressions;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace GenSaaS.Web.Tests.Infrastructure;

/// <summary>
/// The real app on Kestrel on a free loopback port, with its own temporary data folder (real SQLite files).
/// One instance per test class (xunit class fixture) or per test when a test needs a clean slate.
/// </summary>
public class TestApp : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;

    // Each app watches its configuration files; with inotify, dozens of apps in one test run (and other runs on the
    // machine) exhaust the per-user limit of 128 instances. Polling needs none.
    static TestApp() => Environment.SetEnvironmentVariable("DOTNET_USE_POLLING_FILE_WATCHER", "true");

    public TestApp() : this(new Dictionary<string, string?>()) { }

    internal TestApp(Dictionary<string, string?> settings, string? dataDir = null)
    {
        DataDir = dataDir ?? Path.Combine(Path.GetTempPath(), "gensaas-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(DataDir);
        // Tests that run as Production talk plain http to loopback; a Secure-only cookie would never come back to them.
        _settings = new Dictionary<string, string?> { ["App:SecureCookies"] = "false" };
        foreach (var (key, value) in settings)
            _settings[key] = value;
        _settings["App:DataDir"] = DataDir;
        UseKestrel(0);
    }

    public string DataDir { get; }

    /// <summary>Leave <see cref="DataDir"/> behind on dispose, for a test that starts the app again on the same data.</summary>
    public bool KeepDataDir { get; set; }

    public Uri BaseAddress
    {
        get
        {
            StartServer();
            return ClientOptions.BaseAddress;
        }
    }

    /// <summary>
    /// The hosting environment the app runs in; Development unless a test needs what production does. Override this
    /// rather than calling UseEnvironment, so that Production apps get <see cref="ProductionPublicBaseUrl"/>.
    /// </summary>
    protected virtual string EnvironmentName => "Development";

    /// <summary>The public address Production test apps get unless a test sets its own (Production refuses to start without one).</summary>
    public const string ProductionPublicBaseUrl = "https://gensaas.test";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment(EnvironmentName);
        // Tests sign in many times from 127.0.0.1; the throttle tests set their own, lower allowance.
        builder.UseSetting("Accounts:Throttle:PerIp", "1000000");
        if (EnvironmentName == Environments.Production)
            builder.UseSetting("App:PublicBaseUrl", ProductionPublicBaseUrl);
        foreach (var (key, value) in _settings)
            builder.UseSetting(key, value);
    }

    /// <summary>
    /// A client with its own cookie jar that does not follow redirects, so tests see them. It sends <c>X-Requested-With</c> as a
    /// same-site script would, so cookie-authenticated JSON calls pass the CSRF check; <see cref="NewCrossSiteClient"/> does not.
    /// </summary>
    public HttpClient NewClient(bool followRedirects = false)
    {
        var client = NewCrossSiteClient(followRedirects);
        client.DefaultRequestHeaders.Add("X-Requested-With", "XMLHttpRequest");
        return client;
    }

    /// <summary>A client that sends only what a cross-site form or a plain browser navigation would: no custom header.</summary>
    public HttpClient NewCrossSiteClient(bool followRedirects = false)
    {
        StartServer();
        var handler = new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = followRedirects, UseCookies = true };
        return new HttpClient(handler) { BaseAddress = ClientOptions.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public async Task<IdentityUser> CreateUserAsync(string email, string password = "Correct-Horse-9", bool admin = false, bool confirmed = true)
    {
        StartServer();
        await using var scope = Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        var user = new IdentityUser { UserName = email, Email = email, EmailConfirmed = confirmed };
        var result = await users.CreateAsync(user, password);
        result.Succeeded.ShouldBeTrue(string.Join("; ", result.Errors.Select(e => e.Description)));
        if (admin)
            (await users.AddToRoleAsync(user, Roles.Admin)).Succeeded.ShouldBeTrue();
        return user;
    }

    /// <summary>Signs in through the real login form and returns the client holding the cookie.</summary>
    public async Task<HttpClient> SignInAsync(string email, string password = "Correct-Horse-9")
    {
        var client = NewClient();
        var response = await PostFormAsync(client, "/Identity/Account/Login", new()
        {
            ["Input.Email"] = email,
            ["Input.Password"] = password,
            ["Input.RememberMe"] = "false",
        });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        return client;
    }

    /// <summary>A new user, confirmed and signed in.</summary>
    public async Task<(IdentityUser User, HttpClient Client)> SignedInUserAsync(string? email = null, bool admin = false)
    {
        email ??= $"user-{Guid.NewGuid():N}@example.com";
        var user = await CreateUserAsync(email, admin: admin);
        return (user, await SignInAsync(email));
    }

    /// <summary>A client that sends an API key of <paramref name="userId"/> with these scopes.</summary>
    public async Task<HttpClient> KeyClientAsync(string userId, params string[] scopes)
    {
        var created = await Services.GetRequiredService<ApiKeyStore>().CreateAsync(userId, "test key", scopes, CancellationToken.None);
        var client = NewClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", created!.Value.Key);
        return client;
    }

    /// <summary>GETs the page, takes its antiforgery token, and posts the form as a browser would.</summary>
    public static async Task<HttpResponseMessage> PostFormAsync(HttpClient client, string url, Dictionary<string, string> fields, Dictionary<string, string>? headers = null)
    {
        var page = await client.GetStringAsync(url);
        var token = AntiforgeryToken(page);
        var form = new Dictionary<string, string>(fields) { ["__RequestVerificationToken"] = token };
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new FormUrlEncodedContent(form) };
        foreach (var (name, value) in headers ?? [])
            request.Headers.Add(name, value);
        return await client.SendAsync(request);
    }

    public static string AntiforgeryToken(string html)
    {
        var match = Regex.Match(html, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"");
        match.Success.ShouldBeTrue("The page has no antiforgery token");
        return match.Groups[1].Value;
    }

    /// <summary>The app's log files under the data folder, as an operator reads them (opened while the app still writes).</summary>
    public string ReadLogs()
    {
        var text = new System.Text.StringBuilder();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(DataDir, "logs"), "*.log"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            text.Append(reader.ReadToEnd());
        }
        return text.ToString();
    }

    public Db Db => Services.GetRequiredService<Db>();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (!KeepDataDir)
                try { Directory.Delete(DataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
