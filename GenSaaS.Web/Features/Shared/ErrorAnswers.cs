using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Features;

namespace GenSaaS.Web.Features.Shared;

/// <summary>
/// What a request that fails is answered with. API calls get problem+json with a stable <c>code</c>; a browser gets the
/// site's own error page (<see cref="Error"/>, in the layout with the navigation) with the right status; an htmx request a
/// fragment for the element that asked. Two halves: a status (404, 403, 405…) answered without a body is given one here,
/// and outside Development an unexpected fault (the exception handler) becomes a 500 that names the request id the log
/// carries. A request the server could not read (a body cut off or over the size limit: <see cref="BadHttpRequestException"/>)
/// keeps its 4xx status and is not logged as a fault of the app.
/// </summary>
public static class ErrorAnswers
{
    /// <summary>Where the error page is re-executed; <c>{0}</c> is the status.</summary>
    public const string PagePath = "/error/{0}";

    /// <summary>The Stripe emulator answers its errors as Stripe does.</summary>
    private static readonly PathString[] OwnAnswers = ["/emulator"];

    public static WebApplication UseErrorAnswers(this WebApplication app)
    {
        // Outside the exception handler, so the empty 500 it leaves for a page is given the error page too.
        app.UseStatusCodePages(AnswerStatusAsync);
        if (app.Environment.IsDevelopment())
            return app;
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = WriteFaultAsync,
            // Kestrel's own subclass (a body over the limit) would otherwise be answered 500.
            StatusCodeSelector = ex => ex is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError,
            SuppressDiagnosticsCallback = context => context.Exception is BadHttpRequestException,
        });
        return app;
    }

    /// <summary>A 4xx or 5xx that reached here without a body.</summary>
    private static async Task AnswerStatusAsync(StatusCodeContext context)
    {
        var http = context.HttpContext;
        var status = http.Response.StatusCode;
        // A refusal or fault that asked for a page (FriendlyPage) gets one, wherever it happened.
        if (http.Items.ContainsKey(FriendlyPage.TitleItem))
        {
            await ReExecuteAsync(context, status);
            return;
        }
        if (OwnAnswers.Any(p => http.Request.Path.StartsWithSegments(p)))
            return;
        if (Problems.IsApiRequest(http.Request))
        {
            // Routing refuses a body that is not JSON on a route that takes JSON (415) before the handler runs; the API
            // answers it as it answers any unreadable body: 400 validation_failed naming the body.
            if (status == StatusCodes.Status415UnsupportedMediaType)
            {
                await Problems.Validation("body", "The body must be a JSON object sent with Content-Type: application/json.").ExecuteAsync(http);
                return;
            }
            var (code, title) = ProblemFor(status);
            await Problems.WriteAsync(http, status, code, title);
            return;
        }
        // A bare status gets the page only when the caller reads HTML (not a stylesheet, an image or a script's fetch).
        if (FriendlyPage.AcceptsHtml(http.Request))
            await ReExecuteAsync(context, status);
    }

    private static (string Code, string Title) ProblemFor(int status) => status switch
    {
        StatusCodes.Status401Unauthorized => (ProblemCodes.Unauthenticated, "Sign in or send an API key."),
        StatusCodes.Status403Forbidden => (ProblemCodes.Forbidden, "You may not do this."),
        StatusCodes.Status404NotFound => (ProblemCodes.NotFound, "There is nothing at this address."),
        StatusCodes.Status405MethodNotAllowed => (ProblemCodes.MethodNotAllowed, "This address does not take this method; the Allow header lists the ones it takes."),
        >= 500 => (ProblemCodes.InternalError, "Something went wrong on our side."),
        _ => (ProblemCodes.BadRequest, "The request could not be used."),
    };

    /// <summary>
    /// Runs the rest of the pipeline again for <see cref="Error"/>, as UseStatusCodePagesWithReExecute does, so the page is
    /// rendered in the layout with the user's navigation. The original path stays readable in <see cref="IStatusCodeReExecuteFeature"/>.
    /// </summary>
    private static async Task ReExecuteAsync(StatusCodeContext context, int status)
    {
        var http = context.HttpContext;
        var originalPath = http.Request.Path;
        var originalQuery = http.Request.QueryString;
        var routeValues = http.Features.Get<IRouteValuesFeature>();
        http.Features.Set<IStatusCodeReExecuteFeature>(new ReExecuted
        {
            OriginalPathBase = http.Request.PathBase.Value!,
            OriginalPath = originalPath.Value!,
            OriginalQueryString = originalQuery.HasValue ? originalQuery.Value : null,
            OriginalStatusCode = status,
            Endpoint = http.GetEndpoint(),
            RouteValues = routeValues?.RouteValues,
        });
        http.SetEndpoint(null);
        if (routeValues is not null)
            routeValues.RouteValues = null!;
        http.Request.Path = string.Format(System.Globalization.CultureInfo.InvariantCulture, PagePath, status);
        http.Request.QueryString = QueryString.Empty;
        try
        {
            await context.Next(http);
        }
        finally
        {
            http.Request.Path = originalPath;
            http.Request.QueryString = originalQuery;
            http.Features.Set<IStatusCodeReExecuteFeature?>(null);
        }
    }

    private static async Task WriteFaultAsync(HttpContext http)
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
        // The error page itself failed (a view component could not read the database, say): the plain page, with no layout.
        if (http.Features.Get<IStatusCodeReExecuteFeature>() is not null)
        {
            await FriendlyPage.WritePlainAsync(http, status, title, detail ?? "");
            return;
        }
        await FriendlyPage.WriteAsync(http, status, title, detail ?? "");
    }

    /// <summary>The framework's own feature class cannot be given the status from outside.</summary>
    private sealed class ReExecuted : IStatusCodeReExecuteFeature
    {
        public required string OriginalPathBase { get; set; }
        public required string OriginalPath { get; set; }
        public string? OriginalQueryString { get; set; }
        public int OriginalStatusCode { get; init; }
        public Endpoint? Endpoint { get; init; }
        public RouteValueDictionary? RouteValues { get; init; }
    }
}
