using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GenSaaS.Web.Features.Generation;
using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Generation;

/// <summary>A client can pace itself: every generation answer says what is left of the minute's allowance and when it comes back.</summary>
public sealed class RateLimitHeaderTests
{
    private static int Header(HttpResponseMessage response, string name) =>
        int.Parse(response.Headers.GetValues(name).Single(), System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task GenerationAnswers_CountDown_ThenA429_WhoseRetryAfterIsTheReset()
    {
        using var app = new TestApp(new Dictionary<string, string?>
        {
            ["Credits:TrialCredits"] = "10",
            ["Credits:TrialRatePerMinute"] = "3",
            ["Generation:Backend"] = "Null",
        });
        var (_, client) = await app.SignedInUserAsync();

        var remaining = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            var ok = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = $"paced {i}" });
            ok.StatusCode.ShouldBe(HttpStatusCode.Created, await ok.Content.ReadAsStringAsync());
            Header(ok, "RateLimit-Limit").ShouldBe(3);
            Header(ok, "RateLimit-Reset").ShouldBeInRange(1, 60);
            ok.Headers.GetValues("RateLimit-Policy").Single().ShouldBe("3;w=60");
            remaining.Add(Header(ok, "RateLimit-Remaining"));
        }
        remaining.ShouldBe([2, 1, 0]);

        var limited = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "one too many" });
        limited.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        limited.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        (await limited.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString().ShouldBe("rate_limited");
        Header(limited, "RateLimit-Remaining").ShouldBe(0);
        var retryAfter = (int)limited.Headers.RetryAfter!.Delta!.Value.TotalSeconds;
        retryAfter.ShouldBeInRange(1, 60);
        retryAfter.ShouldBe(Header(limited, "RateLimit-Reset"));

        // A refused request takes nothing: the allowance is still spent, not overdrawn.
        var again = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "still too many" });
        again.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        Header(again, "RateLimit-Remaining").ShouldBe(0);

        // Another customer has an allowance of their own.
        var (_, other) = await app.SignedInUserAsync();
        var theirs = await other.PostAsJsonAsync("/api/v1/generations", new { prompt = "mine" });
        theirs.StatusCode.ShouldBe(HttpStatusCode.Created);
        Header(theirs, "RateLimit-Remaining").ShouldBe(2);
    }

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void Window_GivesPermitsBackWhenTheirSegmentSlidesOut_AndResetSaysWhen()
    {
        // 5 s into a 10-second segment.
        var clock = new ManualClock(new DateTimeOffset(2026, 1, 1, 12, 0, 5, TimeSpan.Zero));
        var limiter = new GenerationRateLimiter(clock);

        var first = limiter.TryAcquire("u", 2);
        first.ShouldBe(new RateDecision(true, 2, 1, 55));
        clock.Now = clock.Now.AddSeconds(20);
        limiter.TryAcquire("u", 2).ShouldBe(new RateDecision(true, 2, 0, 35));
        var refused = limiter.TryAcquire("u", 2);
        refused.ShouldBe(new RateDecision(false, 2, 0, 35));

        // One second before the first permit's segment slides out: still refused; at that moment: allowed.
        clock.Now = clock.Now.AddSeconds(34);
        limiter.TryAcquire("u", 2).Acquired.ShouldBeFalse();
        clock.Now = clock.Now.AddSeconds(1);
        limiter.TryAcquire("u", 2).ShouldBe(new RateDecision(true, 2, 0, 20));

        // A plan with a higher rate sees the same window with more room.
        limiter.TryAcquire("u", 5).ShouldBe(new RateDecision(true, 5, 2, 20));
        limiter.TryAcquire("someone else", 2).Remaining.ShouldBe(1);
    }
}
