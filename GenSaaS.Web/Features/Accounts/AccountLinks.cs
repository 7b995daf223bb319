using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.WebUtilities;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>Absolute links for emails, each on a base address taken from <see cref="Shared.PublicAddress"/>.</summary>
public static class AccountLinks
{
    public static string MagicLink(string baseUrl, string token, string returnUrl) =>
        $"{baseUrl}/account/magic-link/sign-in?token={UrlEncoder.Default.Encode(token)}&returnUrl={UrlEncoder.Default.Encode(returnUrl)}";

    public static string ConfirmEmail(string baseUrl, string userId, string code) =>
        $"{baseUrl}/Identity/Account/ConfirmEmail?userId={UrlEncoder.Default.Encode(userId)}&code={Encode(code)}";

    public static string ConfirmEmailChange(string baseUrl, string userId, string email, string code) =>
        $"{baseUrl}/Identity/Account/ConfirmEmailChange?userId={UrlEncoder.Default.Encode(userId)}&email={UrlEncoder.Default.Encode(email)}&code={Encode(code)}";

    public static string ResetPassword(string baseUrl, string code) =>
        $"{baseUrl}/Identity/Account/ResetPassword?code={Encode(code)}";

    public static string SignIn(string baseUrl) => $"{baseUrl}/Identity/Account/Login";

    public static string ForgotPassword(string baseUrl) => $"{baseUrl}/Identity/Account/ForgotPassword";

    // Identity UI's pages expect their codes Base64Url-encoded.
    private static string Encode(string code) => WebEncoders.Base64UrlEncode(Encoding.UTF8.GetBytes(code));

    /// <summary>Only paths of this site, so a crafted link cannot send a freshly signed-in user elsewhere.</summary>
    public static string SafeReturnUrl(string? returnUrl) =>
        !string.IsNullOrEmpty(returnUrl) && returnUrl[0] == '/' && (returnUrl.Length == 1 || (returnUrl[1] != '/' && returnUrl[1] != '\\'))
            // Browsers drop tabs and newlines, so "/\t/evil.example" would become "//evil.example".
            && !returnUrl.Any(char.IsControl)
            ? returnUrl
            : "/";

    /// <summary>Where a customer lands after signing in: the dashboard, unless a path of this site other than the start page asked for them.</summary>
    public const string Dashboard = "/dashboard";

    /// <summary>The page to send a freshly signed-in user to: the local <paramref name="returnUrl"/>, else <see cref="Dashboard"/>.</summary>
    public static string AfterSignIn(string? returnUrl) => SafeReturnUrl(returnUrl) is var safe && safe != "/" ? safe : Dashboard;
}
