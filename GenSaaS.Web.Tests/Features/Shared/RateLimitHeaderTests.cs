using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Generation;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Shared;

/// <summary>
/// Every authenticated <c>/api/v1</c> answer, not only a generation's, tells the client where its generations-per-minute window
/// stands; reading never spends from it.
/// </summary>
public sealed class RateLimitHeaderTests
{
    private static readonly string[] Names = ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"];

    private static int Header(HttpResponseMessage response, string name) =>
        int.Parse(response.Headers.GetValues(name).Single(), CultureInfo.InvariantCulture);

    private static TestApp NewApp() => new(new Dictionary<string, string?>
    {
        ["Credits:TrialCredits"] = "10",
        ["Credits:TrialRatePerMinute"] = "3",
        ["Generation:Backend"] = "Null",
    });

    private static async Task<HttpClient> KeyClientAsync(TestApp app, string userId, params string[] scopes)
    {
        var created = await app.Services.GetRequiredService<ApiKeyStore>().CreateAsync(userId, "headers", scopes, CancellationToken.None);
        var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", created!.Value.Key);
        return client;
    }

    [Fact]
    public async Task Reads_CarryTheWindow_AndTakeNothingFromIt()
    {
        using var app = NewApp();
        var (_, client) = await app.SignedInUserAsync();

        foreach (var url in new[] { "/api/v1/me", "/api/v1/billing", "/api/v1/ledger", "/api/v1/payments", "/api/v1/generations" })
        {
            for (var i = 0; i < 5; i++)
            {
                var read = await client.GetAsync(url);
                read.StatusCode.ShouldBe(HttpStatusCode.OK, url);
                Header(read, "RateLimit-Limit").ShouldBe(3, url);
                Header(read, "RateLimit-Remaining").ShouldBe(3, $"{url}: a read takes no permit");
                Header(read, "RateLimit-Reset").ShouldBeInRange(1, 60);
                read.Headers.GetValues("RateLimit-Policy").Single().ShouldBe("3;w=60");
            }
        }

        // A generation takes one; the reads after it say so, and still take nothing.
        var made = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "counted once" });
        made.StatusCode.ShouldBe(HttpStatusCode.Created, await made.Content.ReadAsStringAsync());
        Header(made, "RateLimit-Remaining").ShouldBe(2);
        var id = (await made.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetString();
        for (var i = 0; i < 3; i++)
        {
            var read = await client.GetAsync($"/api/v1/generations/{id}");
            read.StatusCode.ShouldBe(HttpStatusCode.OK);
            Header(read, "RateLimit-Remaining").ShouldBe(2);
            Header(read, "RateLimit-Reset").ShouldBeInRange(1, 60);
        }
        var second = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "the second" });
        Header(second, "RateLimit-Remaining").ShouldBe(1);
    }

    [Fact]
    public async Task ProblemAnswers_ToASignedInCaller_CarryTheWindowToo()
    {
        using var app = NewApp();
        var (user, browser) = await app.SignedInUserAsync();

        // Each kind of refusal a caller who is known can get: not found, bad parameter, bad query, unknown route, wrong scope.
        var answers = new List<HttpResponseMessage>
        {
            await browser.GetAsync("/api/v1/generations/gen_nothing"),
            await browser.GetAsync("/api/v1/ledger?page=2"),
            await browser.GetAsync("/api/v1/payments?limit=0"),
            await browser.GetAsync("/api/v1/no-such-route"),
        };
        var readOnly = await KeyClientAsync(app, user.Id, ApiKeyScopes.Read);
        answers.Add(await readOnly.PostAsJsonAsync("/api/v1/generations", new { prompt = "not allowed" }));
        answers.Add(await readOnly.DeleteAsync("/api/v1/generations/gen_nothing"));
        answers.Add(await readOnly.GetAsync("/api/v1/me"));

        answers.Select(a => (int)a.StatusCode).ShouldBe([404, 400, 400, 404, 403, 403, 200]);
        foreach (var answer in answers)
        {
            Header(answer, "RateLimit-Limit").ShouldBe(3, answer.RequestMessage!.RequestUri!.ToString());
            Header(answer, "RateLimit-Remaining").ShouldBe(3, "a refused request takes nothing");
        }
    }

    [Fact]
    public async Task AnonymousAnswers_AndPages_CarryNoWindow()
    {
        using var app = NewApp();
        var anonymous = app.NewClient();
        var refused = await anonymous.GetAsync("/api/v1/me");
        refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        var badKey = app.NewClient();
        badKey.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "gsk_not_a_key");
        var refusedKey = await badKey.GetAsync("/api/v1/me");
        refusedKey.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        var (_, browser) = await app.SignedInUserAsync();
        var page = await browser.GetAsync("/dashboard");
        page.StatusCode.ShouldBe(HttpStatusCode.OK);

        foreach (var answer in new[] { refused, refusedKey, page })
            foreach (var name in Names)
                answer.Headers.Contains(name).ShouldBeFalse($"{answer.RequestMessage!.RequestUri} carries {name}");
    }

    [Fact]
    public async Task AnApiKeysReads_AndItsGenerations_ShareOneWindow_WithTheBrowser()
    {
        using var app = NewApp();
        var (user, browser) = await app.SignedInUserAsync();
        var key = await KeyClientAsync(app, user.Id, ApiKeyScopes.Generate, ApiKeyScopes.Read);

        (await key.PostAsJsonAsync("/api/v1/generations", new { prompt = "by key" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        Header(await browser.GetAsync("/api/v1/me"), "RateLimit-Remaining").ShouldBe(2);
        (await browser.PostAsJsonAsync("/api/v1/generations", new { prompt = "by browser" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        Header(await key.GetAsync("/api/v1/generations"), "RateLimit-Remaining").ShouldBe(1);
    }

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void Peek_SaysWhatTryAcquireWould_WithoutTakingAPermit()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 1, 1, 12, 0, 5, TimeSpan.Zero));
        var limiter = new GenerationRateLimiter(clock);

        limiter.Peek("u", 2).ShouldBe(new RateDecision(false, 2, 2, 1));
        limiter.Peek("u", 2).ShouldBe(new RateDecision(false, 2, 2, 1));
        limiter.TryAcquire("u", 2).ShouldBe(new RateDecision(true, 2, 1, 55));
        clock.Now = clock.Now.AddSeconds(20);
        limiter.Peek("u", 2).ShouldBe(new RateDecision(false, 2, 1, 35));
        limiter.Peek("u", 2).ShouldBe(new RateDecision(false, 2, 1, 35));
        limiter.TryAcquire("u", 2).ShouldBe(new RateDecision(true, 2, 0, 35));
        limiter.Peek("u", 2).ShouldBe(new RateDecision(false, 2, 0, 35));
        limiter.TryAcquire("u", 2).Acquired.ShouldBeFalse();

        // The first permit's segment slides out: the peek sees it back.
        clock.Now = clock.Now.AddSeconds(35);
        limiter.Peek("u", 2).ShouldBe(new RateDecision(false, 2, 1, 20));
        limiter.Peek("someone else", 2).Remaining.ShouldBe(2);
    }
}
