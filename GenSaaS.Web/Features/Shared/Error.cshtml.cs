using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Shared;

/// <summary>
/// The site's error page, in the layout with the navigation: re-executed by <see cref="ErrorAnswers"/> for a browser's
/// request that ended in 4xx or 5xx without a body, under the method the request had (hence no antiforgery check and no
/// handler: <see cref="Describe"/> runs for every method). A 5xx shows the request id the log carries and never the error.
/// Asked for directly, the page is a 404.
/// </summary>
[AllowAnonymous]
[IgnoreAntiforgeryToken]
public sealed class Error : PageModel
{
    public int Status { get; private set; }

    public string Title { get; private set; } = "";

    public string Message { get; private set; } = "";

    /// <summary>Shown on 5xx answers: what the operator searches the log for (its <c>RequestId</c> property).</summary>
    public string? RequestId { get; private set; }

    public bool IsHtmx { get; private set; }

    public void Describe()
    {
        var reExecuted = HttpContext.Features.Get<IStatusCodeReExecuteFeature>();
        Status = reExecuted is { OriginalStatusCode: >= 400 and < 600 } ? reExecuted.OriginalStatusCode : StatusCodes.Status404NotFound;
        Response.StatusCode = Status;
        IsHtmx = Request.Headers.ContainsKey("HX-Request");
        var (title, message) = Standard(Status);
        // A refusal that said why (a bad query, an expired form, a rate limit) keeps its words; a fault never shows its own.
        if (Status < 500 && HttpContext.Items[FriendlyPage.TitleItem] is string givenTitle)
        {
            title = givenTitle;
            message = HttpContext.Items[FriendlyPage.MessageItem] as string ?? message;
        }
        Title = title;
        Message = message;
        if (Status >= 500)
            RequestId = HttpContext.TraceIdentifier;
    }

    private static (string Title, string Message) Standard(int status) => status switch
    {
        StatusCodes.Status400BadRequest => ("That request could not be used.", "Check the address, or go back and try again."),
        StatusCodes.Status401Unauthorized => ("Sign in to see this page.", "Sign in, then open the page again."),
        StatusCodes.Status403Forbidden => ("This page is not open to your account.", "If you think it should be, ask an administrator of this site."),
        StatusCodes.Status404NotFound => ("We could not find that page.", "The address may be mistyped, or the page may have moved."),
        StatusCodes.Status405MethodNotAllowed => ("That page cannot be used this way.", "Open it from a link or a form on this site instead."),
        StatusCodes.Status413PayloadTooLarge => ("That request was too large.", "Send less at once, then try again."),
        StatusCodes.Status429TooManyRequests => ("Too many requests.", "Wait a moment, then try again."),
        StatusCodes.Status503ServiceUnavailable => ("This is not available right now.", "Nothing was charged. Try again in a few minutes."),
        >= 500 => ("Something went wrong on our side.", "It is not something you did, and it has been logged. Try again; if it keeps happening, tell us the request id below."),
        _ => ("That request could not be completed.", "Go back and try again."),
    };
}
