using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc.Abstractions;

namespace GenSaaS.Web.Features.Shared;

/// <summary>Marks an endpoint whose state changes need proof of a same-site caller even without a session cookie.</summary>
public sealed class RequireSameSiteCallerAttribute : Attribute;

/// <summary>
/// Cross-site request forgery: a POST, PUT, PATCH or DELETE that rides on the session cookie (or, for endpoints marked
/// <see cref="RequireSameSiteCallerAttribute"/>, on anything ambient such as a loopback address) must prove it comes from this
/// site: a valid antiforgery token (form field <c>__RequestVerificationToken</c> or header <c>RequestVerificationToken</c>, which
/// the layout gives every htmx request), or the header <c>X-Requested-With</c>, which a cross-site form cannot send and a
/// cross-site script can send only after a CORS preflight this app never grants. Razor Pages check their own token; a request
/// signed in by an API key carries no ambient credential and is not checked. Runs after authorization, so a caller without any
/// credential still gets 401 first.
/// </summary>
public static class CsrfProtection
{
    public const string CustomHeader = "X-Requested-With";

    public static WebApplication UseCsrfProtection(this WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            if (NeedsProof(http) && !await HasProofAsync(http))
            {
                await RefuseAsync(http);
                return;
            }
            await next(http);
        });
        return app;
    }

    private static bool NeedsProof(HttpContext http)
    {
        if (HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method)
            || HttpMethods.IsOptions(http.Request.Method) || HttpMethods.IsTrace(http.Request.Method))
            return false;
        var endpoint = http.GetEndpoint();
        if (endpoint is null || endpoint.Metadata.GetMetadata<ActionDescriptor>() is not null)
            return false;
        if (endpoint.Metadata.GetMetadata<RequireSameSiteCallerAttribute>() is not null)
            return true;
        if (endpoint.Metadata.GetMetadata<IAllowAnonymous>() is not null)
            return false;
        return http.User.Identities.Any(i => i.IsAuthenticated && i.AuthenticationType == IdentityConstants.ApplicationScheme);
    }

    private static async Task<bool> HasProofAsync(HttpContext http)
    {
        if (!string.IsNullOrWhiteSpace(http.Request.Headers[CustomHeader]))
            return true;
        var antiforgery = http.RequestServices.GetRequiredService<IAntiforgery>();
        try
        {
            return await antiforgery.IsRequestValidAsync(http);
        }
        catch (AntiforgeryValidationException)
        {
            return false;
        }
        catch (InvalidDataException)
        {
            // A form body that cannot be read is no proof either.
            return false;
        }
    }

    private const string Title = "This request did not come from a page of this site.";
    private const string Detail = "Reload the page and try again. Scripts send the 'RequestVerificationToken' header or 'X-Requested-With'.";

    private static async Task RefuseAsync(HttpContext http)
    {
        if (Problems.IsApiRequest(http.Request) || !FriendlyPage.AcceptsHtml(http.Request))
            await Problems.WriteAsync(http, StatusCodes.Status400BadRequest, ProblemCodes.AntiforgeryFailed, Title, Detail);
        else
            await FriendlyPage.WriteAsync(http, StatusCodes.Status400BadRequest, Title, "The form may have expired. Go back, reload the page and send it again.");
    }
}
