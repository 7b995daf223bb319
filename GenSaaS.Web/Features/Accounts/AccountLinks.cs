using System.Text.Encodings.Web;
using GenSaaS.Web.Data;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>Absolute links for emails: the configured public address when set, else the request's own.</summary>
public sealed class AccountLinks(IOptions<AppOptions> options)
{
    public string BaseUrl(HttpRequest request) =>
        string.IsNullOrWhiteSpace(options.Value.PublicBaseUrl)
            ? $"{request.Scheme}://{request.Host}{request.PathBase}"
            : options.Value.PublicBaseUrl.TrimEnd('/');

    public string MagicLink(HttpRequest request, string token, string returnUrl) =>
        $"{BaseUrl(request)}/account/magic-link/sign-in?token={UrlEncoder.Default.Encode(token)}&returnUrl={UrlEncoder.Default.Encode(returnUrl)}";

    /// <summary>Only paths of this site, so a crafted link cannot send a freshly signed-in user elsewhere.</summary>
    public static string SafeReturnUrl(string? returnUrl) =>
        !string.IsNullOrEmpty(returnUrl) && returnUrl[0] == '/' && (returnUrl.Length == 1 || (returnUrl[1] != '/' && returnUrl[1] != '\\'))
            // Browsers drop tabs and newlines, so "/\t/evil.example" would become "//evil.example".
            && !returnUrl.Any(char.IsControl)
            ? returnUrl
            : "/";
}
