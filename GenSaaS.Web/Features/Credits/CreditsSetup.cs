using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Features.Shared;
using Hangfire;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Caching.Memory;

namespace GenSaaS.Web.Features.Credits;

public static class CreditsSetup
{
    /// <summary>The rate-limit policy on every request that starts a generation.</summary>
    public const string GenerationRatePolicy = "generation";

    public static WebApplicationBuilder AddCredits(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<CreditsOptions>().BindConfiguration("Credits").ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<CreditLedger>();
        services.AddSingleton<AccountSummaries>();
        services.AddSingleton<PlanRates>();
        services.AddTransient<UsageSweeper>();
        services.AddTransient<FairUseNoticeJob>();
        services.AddMemoryCache();
        services.AddScoped<ICliCommand, CreditsGrantCommand>();
        services.AddScoped<ICliCommand, CreditsShowCommand>();

        services.AddRateLimiter(options =>
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.AddPolicy(GenerationRatePolicy, http =>
            {
                var userId = http.User.FindFirstValue(ClaimTypes.NameIdentifier);
                if (userId is null || HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method))
                    return RateLimitPartition.GetNoLimiter("");
                var perMinute = http.RequestServices.GetRequiredService<PlanRates>().PerMinute(userId);
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

    public static WebApplication MapCredits(this WebApplication app)
    {
        app.Services.GetRequiredService<IRecurringJobManager>()
            .AddOrUpdate<UsageSweeper>(UsageSweeper.RecurringJobId, sweeper => sweeper.SweepAsync(CancellationToken.None), Cron.Minutely);

        app.MapGet("/api/v1/me", async (ClaimsPrincipal user, AccountSummaries summaries, CancellationToken ct) =>
        {
            var userId = user.FindFirstValue(ClaimTypes.NameIdentifier)!;
            var s = await summaries.GetAsync(userId, ct);
            return Results.Ok(new
            {
                email = user.FindFirstValue(ClaimTypes.Email) ?? user.Identity?.Name,
                plan = s.PlanKey,
                planName = s.PlanName,
                subscriptionStatus = s.SubscriptionStatus,
                trialCredits = s.TrialCredits,
                prepaidCredits = s.PrepaidCredits,
                creditsRemaining = s.CreditsRemaining,
                generationsThisPeriod = s.UsedThisPeriod,
                period = new { start = s.PeriodStart, end = s.PeriodEnd, softLimit = s.SoftLimit, hardCap = s.HardCap, cancelAtPeriodEnd = s.CancelAtPeriodEnd },
                ratePerMinute = s.RatePerMinute,
            });
        }).RequireAuthorization(Accounts.ApiKeyScopes.Policy(Accounts.ApiKeyScopes.Read));
        return app;
    }
}

/// <summary>
/// Each user's generations-per-minute allowance, from their plan, cached for 30 s so the limiter costs no query per
/// request; a plan change reaches the limiter within that time.
/// </summary>
public sealed class PlanRates(AccountSummaries summaries, IMemoryCache cache)
{
    public int PerMinute(string userId) =>
        cache.GetOrCreate($"plan-rate:{userId}", entry =>
        {
            entry.AbsoluteExpirationRelativeToNow = TimeSpan.FromSeconds(30);
            return summaries.GetAsync(userId).GetAwaiter().GetResult().RatePerMinute;
        });
}
