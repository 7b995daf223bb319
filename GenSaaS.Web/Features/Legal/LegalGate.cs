using System.Security.Claims;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Features.Legal;

/// <summary>
/// Sends a signed-in user who has not accepted the current version of a published document to <c>/legal/accept</c> before
/// anything else, and back afterwards. Pages are redirected (htmx gets <c>HX-Redirect</c>); the JSON API with the session
/// cookie answers <c>403 terms_not_accepted</c>. API keys are not stopped: a key is a program the customer set up, which
/// cannot tick a box; the customer is asked at their next visit in a browser (docs/operations.md).
/// </summary>
public static class LegalGate
{
    public const string AcceptPath = "/legal/accept";

    /// <summary>What a user may reach before accepting: the documents themselves, the accept page, signing out and account settings.</summary>
    private static readonly PathString[] Open =
    [
        "/terms", "/privacy", "/legal", "/Identity", "/account/sessions", "/error", "/healthz", "/metrics", "/emulator", "/dev",
        "/signin-google", "/signin-github",
    ];

    public static WebApplication UseLegalGate(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            if (context.User.Identity is not { IsAuthenticated: true, AuthenticationType: not AuthSchemes.ApiKey }
                || Open.Any(p => context.Request.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase))
                || context.User.FindFirstValue(ClaimTypes.NameIdentifier) is not { } userId)
            {
                await next(context);
                return;
            }
            var acceptances = context.RequestServices.GetRequiredService<LegalAcceptances>();
            if ((await acceptances.PendingAsync(userId, context.RequestAborted)).Count == 0)
            {
                await next(context);
                return;
            }
            var request = context.Request;
            if (Problems.IsApiRequest(request))
            {
                await Problems.WriteAsync(context, StatusCodes.Status403Forbidden, ProblemCodes.TermsNotAccepted,
                    "Accept the updated terms first.", $"A new version of the operator's terms or privacy policy is published; accept it at {AcceptPath} in the browser.");
                return;
            }
            // A form post cannot be replayed after the detour; its page can.
            var back = (request.PathBase + request.Path).ToString();
            if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
                back += request.QueryString.ToString();
            var target = AcceptPath + "?returnUrl=" + Uri.EscapeDataString(back);
            if (request.Headers.ContainsKey("HX-Request"))
                context.Response.Headers["HX-Redirect"] = target;
            else
                context.Response.Redirect(target);
        });
        return app;
    }
}
