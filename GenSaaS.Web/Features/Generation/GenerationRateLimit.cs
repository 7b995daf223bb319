using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Generation;

/// <summary>
/// Generations per minute, by plan. The limiter's partition is chosen synchronously, so the user's rate is looked up
/// before it, asynchronously (<see cref="UseGenerationRateLimit"/>), and handed over in <see cref="HttpContext.Items"/>.
/// </summary>
public static class GenerationRateLimit
{
    /// <summary>The rate-limit policy on every request that starts a generation.</summary>
    public const string Policy = "generation";

    private const string RateItem = "generation-rate-per-minute";

    public static WebApplicationBuilder AddGenerationRateLimit(this WebApplicationBuilder builder)
    {
        builder.Services.AddRateLimiter(options =>
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.AddPolicy(Policy, http =>
            {
                var userId = http.User.FindFirstValue(ClaimTypes.NameIdentifier);
                if (userId is null || !Limited(http.Request))
                    return RateLimitPartition.GetNoLimiter("");
                var perMinute = http.Items[RateItem] as int?
                    ?? http.RequestServices.GetRequiredService<IOptions<CreditsOptions>>().Value.TrialRatePerMinute;
                return RateLimitPartition.GetSlidingWindowLimiter($"{userId}:{perMinute}", _ => new SlidingWindowRateLimiterOptions
                {
                    PermitLimit = perMinute,
                    Window = TimeSpan.FromMinutes(1),
                    SegmentsPerWindow = 6,
                    QueueLimit = 0,
                });
            });
            options.OnRejected = async (context, ct) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(10);
                var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
                var http = context.HttpContext;
                http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                var message = $"You are generating faster than your plan allows. Try again in {seconds} s.";
                if (Problems.IsApiRequest(http.Request))
                {
                    await Problems.WriteAsync(http, StatusCodes.Status429TooManyRequests, ProblemCodes.RateLimited, "Too many requests.", message);
                    return;
                }
                http.Response.ContentType = "text/html; charset=utf-8";
                await http.Response.WriteAsync(
                    $"<div class=\"alert error\" data-testid=\"generation-error\" role=\"alert\"><p>{System.Net.WebUtility.HtmlEncode(message)}</p></div>", ct);
            };
        });
        return builder;
    }

    /// <summary>Looks up the signed-in user's rate for requests under the generation policy, then runs the rate limiter.</summary>
    public static WebApplication UseGenerationRateLimit(this WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            if (Limited(http.Request)
                && http.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>() is { PolicyName: Policy }
                && http.User.FindFirstValue(ClaimTypes.NameIdentifier) is { } userId)
                http.Items[RateItem] = await http.RequestServices.GetRequiredService<AccountSummaries>().RatePerMinuteAsync(userId, http.RequestAborted);
            await next(http);
        });
        app.UseRateLimiter();
        return app;
    }

    /// <summary>Requests that can start a generation: not reads, and not the history's delete form, which makes nothing.</summary>
    private static bool Limited(HttpRequest request) => !HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method)
        && !string.Equals(request.Query["handler"], Index.DeleteHandler, StringComparison.OrdinalIgnoreCase);
}
