using System.Net;
using Microsoft.AspNetCore.Diagnostics;

namespace GenSaaS.Web.Features.Shared;

/// <summary>
/// What a request that fails unexpectedly is answered with outside Development: API calls get problem+json with a
/// stable <c>code</c>, pages a short page of their own (htmx requests a fragment for the element that asked). A request the server could not read (a body cut off or over the
/// size limit: <see cref="BadHttpRequestException"/>) keeps its 4xx status and is not logged as a fault of the app.
/// </summary>
public static class ErrorAnswers
{
    public static WebApplication UseErrorAnswers(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = WriteAsync,
            // Kestrel's own subclass (a body over the limit) would otherwise be answered 500.
            StatusCodeSelector = ex => ex is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError,
            SuppressDiagnosticsCallback = context => context.Exception is BadHttpRequestException,
        });
        return app;
    }

    private static async Task WriteAsync(HttpContext http)
    {
        // The status is StatusCodeSelector's: the request's own 4xx for a BadHttpRequestException, else 500.
        var status = http.Response.StatusCode;
        var clientError = status is >= 400 and < 500;
        var (code, title) = clientError
            ? (ProblemCodes.BadRequest, "The request could not be read.")
            : (ProblemCodes.InternalError, "Something went wrong on our side.");
        var detail = clientError
            ? http.Features.Get<IExceptionHandlerFeature>()?.Error.Message
            : $"The error is logged with the request id {http.TraceIdentifier}.";

        if (Problems.IsApiRequest(http.Request))
        {
            await Problems.WriteAsync(http, status, code, title, detail);
            return;
        }
        http.Response.ContentType = "text/html; charset=utf-8";
        if (http.Request.Headers.ContainsKey("HX-Request"))
        {
            // htmx puts an error answer into the element that asked (site.js): a fragment, not a whole page.
            await http.Response.WriteAsync($"""
                <div class="alert error" role="alert" data-testid="error-title"><p>{WebUtility.HtmlEncode(title)}</p><p>{WebUtility.HtmlEncode(detail ?? "")}</p></div>
                """);
            return;
        }
        await http.Response.WriteAsync($"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>{WebUtility.HtmlEncode(title)}</title>
            <link rel="stylesheet" href="/css/site.css"></head>
            <body><main class="container"><h1 data-testid="error-title">{WebUtility.HtmlEncode(title)}</h1>
            <p>{WebUtility.HtmlEncode(detail ?? "")}</p><p><a href="/">Back to the start page</a></p></main></body></html>
            """);
    }
}
