using System.Globalization;
using System.Net;

namespace GenSaaS.Web.Features.Shared;

/// <summary>
/// Query parameters mean the same on every endpoint and page, so they are checked once, before anything binds them: a parameter
/// given twice (<c>?page=1&amp;page=2</c>) or a number that is not a number, not finite or out of its range is answered 400
/// naming the parameter (problem+json <c>validation_failed</c> on the API, a short page elsewhere) instead of being bound
/// to whichever value a binder picks, to null, or to an overflow. The Stripe emulator's API keeps Stripe's own rules.
/// </summary>
public static class QueryGuard
{
    private sealed record NumberRule(bool Integer, double Min, double Max);

    private static readonly Dictionary<string, NumberRule> Numbers = new(StringComparer.OrdinalIgnoreCase)
    {
        ["page"] = new(Integer: true, 1, 1_000_000),
        ["pageSize"] = new(Integer: true, 1, 100),
        ["limit"] = new(Integer: true, 1, 100),
        // The emulator's clock: at most ten years in one step.
        ["days"] = new(Integer: false, 0, 3_660),
        ["hours"] = new(Integer: false, 0, 3_660 * 24),
        ["minutes"] = new(Integer: false, 0, 3_660 * 24 * 60),
    };

    private static readonly PathString[] OwnRules = ["/emulator/stripe", "/hangfire"];

    public static WebApplication UseQueryGuard(this WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            if (!OwnRules.Any(p => http.Request.Path.StartsWithSegments(p)) && Check(http.Request.Query) is { } problem)
            {
                await RefuseAsync(http, problem.Name, problem.Message);
                return;
            }
            await next(http);
        });
        return app;
    }

    private static (string Name, string Message)? Check(IQueryCollection query)
    {
        foreach (var (name, values) in query)
        {
            if (values.Count > 1)
                return (name, $"'{name}' is given {values.Count} times; give it once.");
            if (!Numbers.TryGetValue(name, out var rule))
                continue;
            var text = values.ToString();
            var range = $"{rule.Min.ToString(CultureInfo.InvariantCulture)} to {rule.Max.ToString(CultureInfo.InvariantCulture)}";
            if (rule.Integer)
            {
                if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var whole) || whole < rule.Min || whole > rule.Max)
                    return (name, $"'{name}' must be a whole number from {range}.");
            }
            else if (!double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)
                     || !double.IsFinite(number) || number < rule.Min || number > rule.Max)
            {
                return (name, $"'{name}' must be a number from {range}.");
            }
        }
        return null;
    }

    private static Task RefuseAsync(HttpContext http, string name, string message)
    {
        if (Problems.IsApiRequest(http.Request) || !FriendlyPage.AcceptsHtml(http.Request))
        {
            var problem = Problems.Create(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, "The request is not valid.", message,
                new Dictionary<string, string[]> { [name] = [message] });
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            return http.Response.WriteAsJsonAsync(problem, problem.GetType(), options: null, contentType: "application/problem+json");
        }
        return FriendlyPage.WriteAsync(http, StatusCodes.Status400BadRequest, "That address is not valid.", message);
    }
}

/// <summary>
/// The answer for a browser to a request refused outside a page (a bad query, a form without its token, a rate limit, a fault):
/// the site's error page (<see cref="Error"/>) with this title and message and the status; an htmx request gets a fragment
/// for the element that asked.
/// </summary>
public static class FriendlyPage
{
    /// <summary>Where the title and message wait in <see cref="HttpContext.Items"/> for the error page.</summary>
    public const string TitleItem = "friendly-page-title";
    public const string MessageItem = "friendly-page-message";

    public static bool AcceptsHtml(HttpRequest request) =>
        request.Headers.ContainsKey("HX-Request") || request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase);

    public static Task WriteAsync(HttpContext http, int status, string title, string message)
    {
        http.Response.StatusCode = status;
        if (http.Request.Headers.ContainsKey("HX-Request"))
        {
            http.Response.ContentType = "text/html; charset=utf-8";
            return http.Response.WriteAsync(Fragment(title, message));
        }
        // The status-code answer (ErrorAnswers) renders the error page for this empty answer; without it, the plain page.
        if (http.Features.Get<Microsoft.AspNetCore.Diagnostics.IStatusCodePagesFeature>() is { Enabled: true })
        {
            http.Items[TitleItem] = title;
            http.Items[MessageItem] = message;
            return Task.CompletedTask;
        }
        return WritePlainAsync(http, status, title, message);
    }

    public static string Fragment(string title, string message) => $"""
        <div class="alert error" role="alert" data-testid="error-title"><p>{WebUtility.HtmlEncode(title)}</p><p>{WebUtility.HtmlEncode(message)}</p></div>
        """;

    /// <summary>A page without the layout, for when the error page itself cannot be shown.</summary>
    public static Task WritePlainAsync(HttpContext http, int status, string title, string message)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "text/html; charset=utf-8";
        return http.Response.WriteAsync($"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>{WebUtility.HtmlEncode(title)}</title>
            <link rel="stylesheet" href="/css/site.css"></head>
            <body><main class="container"><h1 data-testid="error-title">{WebUtility.HtmlEncode(title)}</h1>
            <p>{WebUtility.HtmlEncode(message)}</p><p><a href="/">Back to the start page</a></p></main></body></html>
            """);
    }
}
