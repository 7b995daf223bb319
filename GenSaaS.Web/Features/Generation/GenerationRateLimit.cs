using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Claims;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.RateLimiting;

namespace GenSaaS.Web.Features.Generation;

/// <summary>
/// Generations per minute, by plan: every request that starts a generation (an endpoint marked with the <see cref="Policy"/>
/// rate-limiting policy, any method but GET and HEAD) takes one permit from the user's sliding window
/// (<see cref="GenerationRateLimiter"/>). Its answer carries the window's state in the <c>RateLimit-Limit</c>,
/// <c>RateLimit-Remaining</c>, <c>RateLimit-Reset</c> and <c>RateLimit-Policy</c> fields of the IETF httpapi draft
/// (draft-ietf-httpapi-ratelimit-headers-06); over the limit it is 429 <c>rate_limited</c> with <c>Retry-After</c>.
/// </summary>
public static class GenerationRateLimit
{
    /// <summary>The rate-limit policy on every request that starts a generation.</summary>
    public const string Policy = "generation";

    public static WebApplicationBuilder AddGenerationRateLimit(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<GenerationRateLimiter>();
        return builder;
    }

    /// <summary>Looks up the signed-in user's rate, takes a permit, and answers 429 when there is none.</summary>
    public static WebApplication UseGenerationRateLimit(this WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            if (!Limited(http.Request)
                || http.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>() is not { PolicyName: Policy }
                || http.User.FindFirstValue(ClaimTypes.NameIdentifier) is not { } userId)
            {
                await next(http);
                return;
            }
            var perMinute = await http.RequestServices.GetRequiredService<AccountSummaries>().RatePerMinuteAsync(userId, http.RequestAborted);
            var decision = http.RequestServices.GetRequiredService<GenerationRateLimiter>().TryAcquire(userId, perMinute);
            Describe(http.Response.Headers, decision);
            if (decision.Acquired)
            {
                await next(http);
                return;
            }
            await RefuseAsync(http, decision);
        });
        return app;
    }

    /// <summary>
    /// Every authenticated <c>/api/v1</c> answer says where the caller's window stands, read without taking a permit
    /// (<see cref="GenerationRateLimiter.Peek"/>) and from the cached rate, so a read costs no query. Runs before authorization,
    /// so a <c>403 insufficient_scope</c> carries them too; a generation's own permit, taken later, overwrites them.
    /// </summary>
    public static WebApplication UseRateLimitHeaders(this WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            if (http.Request.Path.StartsWithSegments(ApiPrefix) && http.User.FindFirstValue(ClaimTypes.NameIdentifier) is { } userId)
            {
                var perMinute = await http.RequestServices.GetRequiredService<AccountSummaries>().RatePerMinuteAsync(userId, http.RequestAborted);
                Describe(http.Response.Headers, http.RequestServices.GetRequiredService<GenerationRateLimiter>().Peek(userId, perMinute));
            }
            await next(http);
        });
        return app;
    }

    private static readonly PathString ApiPrefix = "/api/v1";

    private static void Describe(IHeaderDictionary headers, RateDecision decision)
    {
        headers["RateLimit-Limit"] = decision.Limit.ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Remaining"] = decision.Remaining.ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Reset"] = decision.ResetSeconds.ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Policy"] = $"{decision.Limit.ToString(CultureInfo.InvariantCulture)};w={GenerationRateLimiter.WindowSeconds}";
    }

    private static async Task RefuseAsync(HttpContext http, RateDecision decision)
    {
        http.RequestServices.GetRequiredService<Operations.AppMetrics>().RateLimited.WithLabels("generation").Inc();
        var seconds = decision.ResetSeconds;
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        var message = $"You are generating faster than your plan allows. Try again in {seconds} s.";
        if (Problems.IsApiRequest(http.Request) || !FriendlyPage.AcceptsHtml(http.Request))
        {
            await Problems.WriteAsync(http, StatusCodes.Status429TooManyRequests, ProblemCodes.RateLimited, "Too many requests.", message);
            return;
        }
        if (http.Request.Headers.ContainsKey("HX-Request"))
        {
            // The generate form's result area takes it as it takes any other refusal.
            http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            http.Response.ContentType = "text/html; charset=utf-8";
            await http.Response.WriteAsync(
                $"<div class=\"alert error\" data-testid=\"generation-error\" role=\"alert\"><p>{System.Net.WebUtility.HtmlEncode(message)}</p></div>", http.RequestAborted);
            return;
        }
        await FriendlyPage.WriteAsync(http, StatusCodes.Status429TooManyRequests, "Too many requests.", message);
    }

    /// <summary>Requests that can start a generation: not reads, and not the history's delete form, which makes nothing.</summary>
    private static bool Limited(HttpRequest request) => !HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method)
        && !string.Equals(request.Query["handler"], Index.DeleteHandler, StringComparison.OrdinalIgnoreCase);
}

/// <summary>What the limiter said: whether a permit was taken (never, for a peek), and the window's state after it.</summary>
/// <param name="ResetSeconds">Seconds until permits come back (the oldest used part of the window slides out); at least 1.</param>
public readonly record struct RateDecision(bool Acquired, int Limit, int Remaining, int ResetSeconds);

/// <summary>
/// A sliding window of one minute in six 10-second segments per user, as the framework's sliding-window limiter counts, but
/// one that can say what it holds: permits left, and when the oldest used segment slides out and gives its permits back.
/// The limit is read on every request (the user's plan may change); a user whose window is empty is forgotten.
/// </summary>
public sealed class GenerationRateLimiter(TimeProvider clock)
{
    public const int WindowSeconds = 60;
    private const int Segments = 6;
    private static readonly long SegmentTicks = TimeSpan.FromSeconds(WindowSeconds).Ticks / Segments;

    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private long _calls;

    public RateDecision TryAcquire(string key, int limit)
    {
        if (Interlocked.Increment(ref _calls) % 4096 == 0)
            ForgetIdle();
        var now = clock.GetUtcNow().UtcTicks;
        while (true)
        {
            var window = _windows.GetOrAdd(key, _ => new Window());
            lock (window)
            {
                // Swept away between the lookup and the lock: take the new one.
                if (window.Forgotten)
                    continue;
                return window.TryAcquire(now, limit);
            }
        }
    }

    /// <summary>The window's state for a read: takes no permit, and remembers nothing for a user who has none in use.</summary>
    public RateDecision Peek(string key, int limit)
    {
        var now = clock.GetUtcNow().UtcTicks;
        if (!_windows.TryGetValue(key, out var window))
            return Window.Describe(acquired: false, limit, used: 0, oldest: long.MaxValue, now);
        lock (window)
            return window.Peek(now, limit);
    }

    private void ForgetIdle()
    {
        var now = clock.GetUtcNow().UtcTicks;
        foreach (var (key, window) in _windows)
        {
            lock (window)
            {
                if (window.Used(now / SegmentTicks) > 0)
                    continue;
                window.Forgotten = true;
                _windows.TryRemove(new KeyValuePair<string, Window>(key, window));
            }
        }
    }

    private sealed class Window
    {
        // Segment numbers count SegmentTicks from the epoch; a segment's permits come back once it is Segments old.
        private readonly long[] _segment = new long[Segments];
        private readonly int[] _count = new int[Segments];

        public bool Forgotten { get; set; }

        public int Used(long current)
        {
            var used = 0;
            for (var i = 0; i < Segments; i++)
                if (current - _segment[i] < Segments)
                    used += _count[i];
            return used;
        }

        public RateDecision TryAcquire(long now, int limit)
        {
            var current = now / SegmentTicks;
            var used = Used(current);
            var acquired = used < limit;
            if (acquired)
            {
                var slot = (int)(current % Segments);
                if (_segment[slot] != current)
                {
                    _segment[slot] = current;
                    _count[slot] = 0;
                }
                _count[slot]++;
                used++;
            }
            return Describe(acquired, limit, used, Oldest(current), now);
        }

        public RateDecision Peek(long now, int limit)
        {
            var current = now / SegmentTicks;
            return Describe(acquired: false, limit, Used(current), Oldest(current), now);
        }

        /// <summary>The oldest segment that still holds permits, or <see cref="long.MaxValue"/> when none does.</summary>
        private long Oldest(long current)
        {
            var oldest = long.MaxValue;
            for (var i = 0; i < Segments; i++)
                if (_count[i] > 0 && current - _segment[i] < Segments)
                    oldest = Math.Min(oldest, _segment[i]);
            return oldest;
        }

        public static RateDecision Describe(bool acquired, int limit, int used, long oldest, long now)
        {
            var resetTicks = oldest == long.MaxValue ? 0 : (oldest + Segments) * SegmentTicks - now;
            var resetSeconds = (int)Math.Max(1, Math.Ceiling(resetTicks / (double)TimeSpan.TicksPerSecond));
            return new RateDecision(acquired, limit, Math.Max(0, limit - used), resetSeconds);
        }
    }
}
