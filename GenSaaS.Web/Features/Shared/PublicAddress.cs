using GenSaaS.Web.Data;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Shared;

/// <summary>
/// The address customers reach the app at (<c>App:PublicBaseUrl</c>). Every link sent out of band is built from it,
/// never from the request's Host header, which any client can set to an address of its own.
/// </summary>
public sealed class PublicAddress(IOptions<AppOptions> options)
{
    /// <summary>The configured address without a trailing slash, or null when none is configured.</summary>
    public string? Configured { get; } = Normalize(options.Value.PublicBaseUrl);

    /// <summary>
    /// The base of an emailed link. Only Development and tests get here without a configured address (Production
    /// refuses to start), and then the request's own address is the only one there is.
    /// </summary>
    public string BaseUrl(HttpRequest request) =>
        Configured ?? $"{request.Scheme}://{request.Host}{request.PathBase}";

    public static string? Normalize(string? url) =>
        string.IsNullOrWhiteSpace(url) ? null : url.Trim().TrimEnd('/');

    /// <summary>Why <paramref name="url"/> cannot be the public address, or null when it can.</summary>
    public static string? Problem(string? url) =>
        Uri.TryCreate(Normalize(url), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0
            && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment) && string.IsNullOrEmpty(uri.UserInfo)
            ? null
            : $"App:PublicBaseUrl '{url}' is not an absolute http(s) address without query, e.g. https://gensaas.example.com";

    /// <summary>
    /// The one line to print when the app must not start: Production without a public address, or any environment
    /// with one that is not an absolute http(s) URL. Null when the app may start.
    /// </summary>
    public static string? StartProblem(IConfiguration configuration, IHostEnvironment environment)
    {
        var url = configuration["App:PublicBaseUrl"];
        if (Normalize(url) is null)
            return environment.IsProduction()
                ? "App:PublicBaseUrl is not set: set App__PublicBaseUrl to the public https address customers use (e.g. https://gensaas.example.com); emailed links are built from it."
                : null;
        return Problem(url);
    }

    /// <summary>
    /// Without an explicit <c>AllowedHosts</c>, requests are accepted only for the public address's host and for
    /// loopback names (health checks from inside the container); a foreign Host header gets 400.
    /// </summary>
    public static void DefaultAllowedHosts(WebApplicationBuilder builder)
    {
        if (!string.IsNullOrWhiteSpace(builder.Configuration["AllowedHosts"])
            || !Uri.TryCreate(Normalize(builder.Configuration["App:PublicBaseUrl"]), UriKind.Absolute, out var uri))
            return;
        builder.Services.Configure<HostFilteringOptions>(options =>
            options.AllowedHosts = [uri.IdnHost, "localhost", "127.0.0.1", "[::1]"]);
    }
}
