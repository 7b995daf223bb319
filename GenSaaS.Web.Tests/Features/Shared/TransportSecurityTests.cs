using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Shared;

public static class CookieHeaders
{
    /// <summary>The Set-Cookie line for one cookie, by name prefix.</summary>
    public static string SetCookie(HttpResponseMessage response, string namePrefix)
    {
        response.Headers.TryGetValues("Set-Cookie", out var cookies).ShouldBeTrue("no cookie was set");
        var cookie = cookies!.FirstOrDefault(c => c.StartsWith(namePrefix, StringComparison.OrdinalIgnoreCase));
        cookie.ShouldNotBeNull($"no {namePrefix} cookie in: {string.Join(" | ", cookies!)}");
        return cookie;
    }

    public static bool IsSecure(string setCookie) => setCookie.Split(';').Any(p => p.Trim().Equals("secure", StringComparison.OrdinalIgnoreCase));

    public static async Task<HttpResponseMessage> GetAsync(HttpClient client, string url, string? forwardedProto = null, string? host = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (forwardedProto is not null)
            request.Headers.Add("X-Forwarded-Proto", forwardedProto);
        if (host is not null)
            request.Headers.Host = host;
        return await client.SendAsync(request);
    }
}

/// <summary>Behind a TLS proxy on the same host (loopback, the default trusted proxy), the app knows the request was https.</summary>
public sealed class ForwardedFromKnownProxyTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task ForwardedHttps_FromALoopbackProxy_MakesCookiesSecure_HttpOnly_AndLax()
    {
        using var client = app.NewClient();
        var viaProxy = await CookieHeaders.GetAsync(client, "/Identity/Account/Login", forwardedProto: "https");
        var antiforgery = CookieHeaders.SetCookie(viaProxy, ".AspNetCore.Antiforgery");
        CookieHeaders.IsSecure(antiforgery).ShouldBeTrue(antiforgery);
        antiforgery.ShouldContain("httponly", Case.Insensitive);
        antiforgery.ShouldContain("samesite=lax", Case.Insensitive);

        using var plain = app.NewClient();
        var direct = await CookieHeaders.GetAsync(plain, "/Identity/Account/Login");
        CookieHeaders.IsSecure(CookieHeaders.SetCookie(direct, ".AspNetCore.Antiforgery")).ShouldBeFalse("plain http in Development keeps the cookie usable");
    }

    [Fact]
    public async Task TheSessionCookie_IsHttpOnly_AndLax()
    {
        await app.CreateUserAsync("cookie-flags@example.com");
        using var client = app.NewClient();
        var login = await TestApp.PostFormAsync(client, "/Identity/Account/Login", new()
        {
            ["Input.Email"] = "cookie-flags@example.com",
            ["Input.Password"] = "Correct-Horse-9",
        });
        login.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var session = CookieHeaders.SetCookie(login, "gensaas.auth");
        session.ShouldContain("httponly", Case.Insensitive);
        session.ShouldContain("samesite=lax", Case.Insensitive);
    }
}

/// <summary>A forwarded header from an address that is not a configured proxy is a client lying about itself: ignored.</summary>
public sealed class ForwardedFromUnknownAddressApp() : TestApp(new Dictionary<string, string?>
{
    ["App:ForwardedHeaders:KnownProxies:0"] = "10.9.8.7",
    ["App:ForwardedHeaders:KnownNetworks:0"] = "192.0.2.0/24",
});

public sealed class ForwardedFromUnknownAddressTests(ForwardedFromUnknownAddressApp app) : IClassFixture<ForwardedFromUnknownAddressApp>
{
    [Fact]
    public async Task ForwardedHttps_FromAnAddressThatIsNoKnownProxy_IsIgnored()
    {
        using var client = app.NewClient();
        var response = await CookieHeaders.GetAsync(client, "/Identity/Account/Login", forwardedProto: "https");
        CookieHeaders.IsSecure(CookieHeaders.SetCookie(response, ".AspNetCore.Antiforgery")).ShouldBeFalse();
    }
}

/// <summary>Production as an operator runs it: Secure cookies always, HSTS on https.</summary>
public sealed class ProductionTransportApp() : TestApp(new Dictionary<string, string?>
{
    ["App:SecureCookies"] = null,
    ["App:PublicBaseUrl"] = "https://app.example.com",
    ["AllowedHosts"] = "*",
    ["Billing:Mode"] = "Disabled",
})
{
    protected override string EnvironmentName => "Production";
}

public sealed class ProductionTransportTests(ProductionTransportApp app) : IClassFixture<ProductionTransportApp>
{
    [Fact]
    public async Task BehindATlsProxy_HstsIsSent_AndCookiesAreSecure()
    {
        using var client = app.NewClient();
        var response = await CookieHeaders.GetAsync(client, "/Identity/Account/Login", forwardedProto: "https", host: "app.example.com");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Headers.TryGetValues("Strict-Transport-Security", out var hsts).ShouldBeTrue("no HSTS on an https request");
        hsts!.Single().ShouldContain("max-age=31536000");
        CookieHeaders.IsSecure(CookieHeaders.SetCookie(response, ".AspNetCore.Antiforgery")).ShouldBeTrue();
    }

    [Fact]
    public async Task OverPlainHttp_NoHsts_ButCookiesAreSecureAnyway()
    {
        using var client = app.NewClient();
        var response = await CookieHeaders.GetAsync(client, "/Identity/Account/Login", host: "app.example.com");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Headers.Contains("Strict-Transport-Security").ShouldBeFalse("HSTS over http is ignored by browsers and must not be sent");
        CookieHeaders.IsSecure(CookieHeaders.SetCookie(response, ".AspNetCore.Antiforgery")).ShouldBeTrue();
    }
}

/// <summary><c>/healthz</c>: up or not for anyone; what each check found for admins only.</summary>
public sealed class HealthzTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Anonymous_GetsOnlyHealthy()
    {
        using var client = app.NewClient();
        var response = await client.GetAsync("/healthz");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldBe("healthy");
    }

    [Fact]
    public async Task AnOrdinaryUser_GetsOnlyHealthy()
    {
        var (_, client) = await app.SignedInUserAsync();
        (await client.GetStringAsync("/healthz")).ShouldBe("healthy");
    }

    [Fact]
    public async Task AnAdmin_GetsEachCheck()
    {
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        var body = JsonDocument.Parse(await admin.GetStringAsync("/healthz")).RootElement;
        body.GetProperty("status").GetString().ShouldBe("Healthy");
        body.GetProperty("checks").GetProperty("database").GetProperty("description").GetString()!.ShouldContain("migrations applied");
    }
}

/// <summary>Data Protection keys sign the session cookie and emailed tokens: with a certificate configured they are encrypted on disk.</summary>
public sealed class DataProtectionCertificateTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "gensaas-tests", "dp-" + Guid.NewGuid().ToString("N"));

    public DataProtectionCertificateTests() => Directory.CreateDirectory(_folder);

    private string CreateCertificate(string password)
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=GenSaaS data protection test", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var path = Path.Combine(_folder, "dp.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx, password));
        return path;
    }

    private static async Task SignInAndUseTheCookieAsync(TestApp app)
    {
        var (_, client) = await app.SignedInUserAsync();
        var dashboard = await client.GetAsync("/dashboard");
        dashboard.StatusCode.ShouldBe(HttpStatusCode.OK, "the session cookie protected with the key must be readable");
    }

    [Fact]
    public async Task WithACertificate_KeysOnDiskAreEncrypted_AndSignInWorks()
    {
        var path = CreateCertificate("pfx-pass-123");
        using var app = new TestApp(new Dictionary<string, string?>
        {
            ["App:DataProtection:CertificatePath"] = path,
            ["App:DataProtection:CertificatePassword"] = "pfx-pass-123",
        });
        await SignInAndUseTheCookieAsync(app);

        var keys = Directory.GetFiles(Path.Combine(app.DataDir, "keys"), "key-*.xml");
        keys.ShouldNotBeEmpty();
        foreach (var key in keys)
        {
            var xml = await File.ReadAllTextAsync(key);
            xml.ShouldContain("<encryptedSecret");
            xml.ShouldNotContain("<masterKey");
        }
    }

    [Fact]
    public async Task WithoutACertificate_TheAppStillWorks_AndSaysTheKeysAreUnencrypted()
    {
        using var app = new TestApp();
        await SignInAndUseTheCookieAsync(app);
        var xml = await File.ReadAllTextAsync(Directory.GetFiles(Path.Combine(app.DataDir, "keys"), "key-*.xml").First());
        xml.ShouldContain("<masterKey");
    }

    public void Dispose()
    {
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }
}
