namespace GenSaaS.Web.Features.Shared;

/// <summary>
/// The headers every response carries, pages, API, static files, errors and the job dashboard alike. They are added when the
/// response starts, so answers written by the exception handler (which clears headers) and by the static file server get them too.
/// </summary>
public static class SecurityHeaders
{
    /// <summary>
    /// Where a form may send the browser. A form post that is answered with a redirect is checked too, so the plain (no-JavaScript)
    /// checkout and portal forms need Stripe's hosted pages, and the external sign-in buttons need the providers' sign-in pages.
    /// </summary>
    private const string FormAction =
        "form-action 'self' https://checkout.stripe.com https://billing.stripe.com https://accounts.google.com https://github.com";

    /// <summary>No inline script or style anywhere: scripts and styles come from the app's own files.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; "
        + "object-src 'none'; base-uri 'self'; " + FormAction + "; frame-ancestors 'none'";

    /// <summary>
    /// Hangfire's dashboard (admins only) renders inline <c>style</c> attributes (progress bars, graphs) that cannot be moved;
    /// its scripts are its own files, so scripts stay as strict as everywhere else.
    /// </summary>
    public const string DashboardContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; "
        + "object-src 'none'; base-uri 'self'; " + FormAction + "; frame-ancestors 'none'";

    /// <summary>
    /// The API reference (<see cref="ApiDocs"/>): Scalar's page starts itself with one inline module script that carries a fresh
    /// nonce, and its components set their styles at run time, so styles may be inline there; every file still comes from the app.
    /// </summary>
    public static string ReferenceContentSecurityPolicy(string nonce) =>
        $"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
        + "object-src 'none'; base-uri 'self'; " + FormAction + "; frame-ancestors 'none'";

    public const string PermissionsPolicy =
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()";

    /// <summary>Pages whose address carries a secret (a sign-in or reset code, a checkout session id): it must not leak to another site.</summary>
    private static readonly PathString[] TokenPages =
    [
        "/account/magic-link/sign-in",
        "/Identity/Account/ResetPassword",
        "/Identity/Account/ConfirmEmail",
        "/Identity/Account/ConfirmEmailChange",
        "/billing/success",
    ];

    private static readonly string[] TokenQueryKeys = ["code", "token", "session_id"];

    /// <summary>Pages rendered without inline styles the policy would refuse.</summary>
    public static WebApplicationBuilder AddSecurityHeaders(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<Microsoft.AspNetCore.Mvc.ViewFeatures.IHtmlGenerator, CspHtmlGenerator>();
        return builder;
    }

    public static WebApplication UseSecurityHeaders(this WebApplication app)
    {
        app.Use((http, next) =>
        {
            // Decided now: the job dashboard rewrites the path while it runs.
            var dashboard = http.Request.Path.StartsWithSegments("/hangfire");
            var carriesToken = CarriesToken(http.Request);
            http.Response.OnStarting(() =>
            {
                Apply(http.Response.Headers, dashboard, carriesToken, ApiDocs.ReferenceNonce(http));
                return Task.CompletedTask;
            });
            return next(http);
        });
        return app;
    }

    private static void Apply(IHeaderDictionary headers, bool dashboard, bool carriesToken, string? referenceNonce)
    {
        headers.ContentSecurityPolicy = referenceNonce is not null ? ReferenceContentSecurityPolicy(referenceNonce)
            : dashboard ? DashboardContentSecurityPolicy
            : ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = carriesToken ? "no-referrer" : "strict-origin-when-cross-origin";
        headers["Permissions-Policy"] = PermissionsPolicy;
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
    }

    private static bool CarriesToken(HttpRequest request) =>
        TokenPages.Any(p => request.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase))
        || TokenQueryKeys.Any(request.Query.ContainsKey);
}
