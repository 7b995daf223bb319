using System.Net;
using Microsoft.AspNetCore.CookiePolicy;
using Microsoft.AspNetCore.HttpOverrides;

namespace GenSaaS.Web.Features.Shared;

/// <summary>The <c>App:ForwardedHeaders</c> configuration section: which reverse proxies may say what the client's address and scheme were.</summary>
public sealed class ForwardedHeadersSettings
{
    /// <summary>Addresses of trusted proxies, e.g. <c>10.0.0.5</c>; empty means loopback only (a proxy on the same host).</summary>
    public string[] KnownProxies { get; set; } = [];

    /// <summary>Networks of trusted proxies in CIDR form, e.g. <c>172.16.0.0/12</c>.</summary>
    public string[] KnownNetworks { get; set; } = [];
}

/// <summary>
/// TLS behind a reverse proxy: <c>X-Forwarded-For</c>/<c>X-Forwarded-Proto</c> are honoured only from the configured proxies, so
/// the request's scheme is https there and cookies, links and HSTS follow; cookies are <c>Secure</c> always in Production
/// (<c>App:SecureCookies</c> turns that off for a plain-http test rig) and whenever the request came over https elsewhere;
/// session and antiforgery cookies are HttpOnly and SameSite=Lax; HSTS is sent in Production.
/// </summary>
public static class TransportSecurity
{
    public static WebApplicationBuilder AddTransportSecurity(this WebApplicationBuilder builder)
    {
        var settings = builder.Configuration.GetSection("App:ForwardedHeaders").Get<ForwardedHeadersSettings>() ?? new();
        builder.Services.Configure<ForwardedHeadersOptions>(options =>
        {
            options.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            if (settings.KnownProxies.Length == 0 && settings.KnownNetworks.Length == 0)
                return;
            options.KnownProxies.Clear();
            options.KnownIPNetworks.Clear();
            foreach (var proxy in settings.KnownProxies)
                options.KnownProxies.Add(IPAddress.Parse(proxy));
            foreach (var network in settings.KnownNetworks)
                options.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
        });

        var secureAlways = builder.Configuration.GetValue<bool?>("App:SecureCookies") ?? builder.Environment.IsProduction();
        var secure = secureAlways ? CookieSecurePolicy.Always : CookieSecurePolicy.SameAsRequest;
        builder.Services.Configure<CookiePolicyOptions>(options =>
        {
            options.Secure = secure;
            options.MinimumSameSitePolicy = SameSiteMode.Lax;
        });
        builder.Services.AddAntiforgery(options =>
        {
            // Antiforgery throws on every form over http when its own policy is Always; the cookie policy above marks it Secure instead.
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.Cookie.HttpOnly = true;
            options.Cookie.SameSite = SameSiteMode.Lax;
        });
        builder.Services.PostConfigureAll<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions>(options =>
        {
            options.Cookie.SecurePolicy = secure;
            options.Cookie.HttpOnly = true;
            if (options.Cookie.SameSite is SameSiteMode.None or SameSiteMode.Unspecified)
                options.Cookie.SameSite = SameSiteMode.Lax;
        });
        builder.Services.AddHsts(options =>
        {
            options.MaxAge = TimeSpan.FromDays(365);
            options.IncludeSubDomains = false;
        });
        return builder;
    }

    /// <summary>First in the pipeline: everything after it sees the client's scheme and address.</summary>
    public static WebApplication UseTransportSecurity(this WebApplication app)
    {
        app.UseForwardedHeaders();
        if (app.Environment.IsProduction())
            app.UseHsts();
        app.UseCookiePolicy();
        return app;
    }
}
