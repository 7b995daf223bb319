using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Tests.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Operations;

/// <summary>What a Prometheus scraper reads at /metrics after a known sequence of requests, and who may read it.</summary>
[Collection(BillingCollection.Name)]
public sealed class MetricsTests
{
    private const string Token = "metrics-token-for-tests-0123456789";

    private static Dictionary<string, string?> WithToken(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?> { ["Operations:Metrics:Token"] = Token };
        foreach (var (key, value) in more ?? [])
            settings[key] = value;
        return settings;
    }

    private static async Task<string> ScrapeAsync(TestApp app)
    {
        using var client = app.NewClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var response = await client.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/plain");
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The value of one sample, e.g. <c>gensaas_generations_total{outcome="succeeded",funding="trial"}</c>; 0 when absent.</summary>
    private static double Sample(string exposition, string name, params (string Label, string Value)[] labels)
    {
        foreach (var line in exposition.Split('\n'))
        {
            var match = Regex.Match(line, @"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>\S+)$");
            if (!match.Success || match.Groups["name"].Value != name)
                continue;
            var present = Regex.Matches(match.Groups["labels"].Value, @"(\w+)=""([^""]*)""").ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
            if (labels.All(l => present.GetValueOrDefault(l.Label) == l.Value))
                return double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
        }
        return 0;
    }

    [Fact]
    public async Task WithoutAToken_ThereIsNoMetricsEndpoint_EvenForAnAdmin()
    {
        using var app = new TestApp();
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        (await admin.GetAsync("/metrics")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await app.NewClient().GetAsync("/metrics")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task WithAToken_OnlyACallerSendingItMayScrape()
    {
        using var app = new TestApp(WithToken());
        var client = app.NewClient();
        var anonymous = await client.GetAsync("/metrics");
        anonymous.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        anonymous.Headers.WwwAuthenticate.ToString().ShouldStartWith("Bearer");

        foreach (var wrong in new[] { "Bearer wrong", "Bearer " + Token + "x", "Basic " + Token, Token })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
            request.Headers.TryAddWithoutValidation("Authorization", wrong);
            (await client.SendAsync(request)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized, wrong);
        }

        // A signed-in admin's cookie is not the token either.
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        (await admin.GetAsync("/metrics")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        var text = await ScrapeAsync(app);
        text.ShouldContain("process_cpu_seconds_total");
        text.ShouldContain("# TYPE gensaas_generations_total counter");
    }

    [Fact]
    public async Task AfterKnownGenerations_TheCountsByOutcomeAndFunding_TheLedgerLatency_AndTheWriteQueueAreRight()
    {
        using var app = new TestApp(WithToken(new() { ["Credits:TrialCredits"] = "2", ["Credits:TrialRatePerMinute"] = "100000", ["Generation:Backend"] = "Null" }));
        var (_, client) = await app.SignedInUserAsync();
        var before = await ScrapeAsync(app);

        for (var i = 0; i < 2; i++)
            (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = $"kite {i}" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "no credit left" })).StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "" })).StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        var after = await ScrapeAsync(app);
        Sample(after, "gensaas_generations_total", ("outcome", "succeeded"), ("funding", "trial")).ShouldBe(2);
        Sample(after, "gensaas_generations_total", ("outcome", "insufficient_credits"), ("funding", "none")).ShouldBe(1);
        Sample(after, "gensaas_generations_total", ("outcome", "validation_failed"), ("funding", "none")).ShouldBe(1);
        // Three requests reached the ledger; the empty prompt never did.
        (Sample(after, "gensaas_reservation_duration_seconds_count") - Sample(before, "gensaas_reservation_duration_seconds_count")).ShouldBe(3);
        Sample(after, "gensaas_write_queue_batches_total").ShouldBeGreaterThan(Sample(before, "gensaas_write_queue_batches_total"));
        Sample(after, "gensaas_write_queue_items_total").ShouldBeGreaterThanOrEqualTo(Sample(after, "gensaas_write_queue_batches_total"));
        Sample(after, "gensaas_write_queue_depth").ShouldBeGreaterThanOrEqualTo(0);
        Sample(after, "http_requests_received_total", ("code", "201"), ("method", "POST"), ("endpoint", "/api/v1/generations/")).ShouldBe(2,
            string.Join('\n', after.Split('\n').Where(l => l.StartsWith("http_requests_received_total", StringComparison.Ordinal))));
        Sample(after, "gensaas_open_holds", ("measure", "count")).ShouldBe(0);
        after.ShouldContain("gensaas_jobs{state=\"failed\"}");
    }

    [Fact]
    public async Task RateLimitRejections_AreCountedByLimiter()
    {
        using var app = new TestApp(WithToken(new() { ["Credits:TrialCredits"] = "5", ["Credits:TrialRatePerMinute"] = "1", ["Generation:Backend"] = "Null" }));
        var (_, client) = await app.SignedInUserAsync();
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "first" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "second" })).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "third" })).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);

        Sample(await ScrapeAsync(app), "gensaas_rate_limit_rejections_total", ("limiter", "generation")).ShouldBe(2);
    }

    [Fact]
    public async Task StripeCalls_AndWebhookEvents_AreCountedByEndpointAndResult()
    {
        using var app = new BillingTestApp(WithToken());
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "the bundle's credits");

        // The event is counted once its row is stored, a moment after the credits it granted.
        await BillingTestApp.EventuallyAsync(async () =>
            Sample(await ScrapeAsync(app), "gensaas_webhook_events_total", ("type", "checkout.session.completed"), ("result", "applied")) == 1,
            "checkout.session.completed counted as applied");
        var text = await ScrapeAsync(app);
        Sample(text, "gensaas_stripe_requests_total", ("endpoint", "POST /v1/checkout/sessions"), ("status", "200")).ShouldBe(1);
        Sample(text, "gensaas_stripe_request_duration_seconds_count", ("endpoint", "POST /v1/checkout/sessions")).ShouldBe(1);
        Sample(text, "gensaas_webhook_events_total", ("result", "failed")).ShouldBe(0);

        Sample(text, "gensaas_webhook_events_failed").ShouldBe(0);
    }

    [Fact]
    public async Task EmailsSent_AreCountedByTemplate()
    {
        using var app = new TestApp(WithToken());
        var user = await app.CreateUserAsync("metrics-mail@example.com");
        var client = app.NewClient();
        (await TestApp.PostFormAsync(client, "/account/magic-link", new() { ["Input.Email"] = user.Email! })).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        await BillingTestApp.EventuallyAsync(async () =>
            Sample(await ScrapeAsync(app), "gensaas_emails_total", ("template", "SignInLink"), ("result", "sent")) == 1, "the sign-in link counted");
        Sample(await ScrapeAsync(app), "gensaas_emails_total", ("result", "failed")).ShouldBe(0);
    }

    [Theory]
    [InlineData("POST", "/emulator/stripe/v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa/capture", "POST /v1/payment_intents/{id}/capture")]
    [InlineData("GET", "/v1/checkout/sessions/cs_test_a1b2c3d4e5f6g7", "GET /v1/checkout/sessions/{id}")]
    [InlineData("POST", "/v1/customers", "POST /v1/customers")]
    [InlineData("GET", "/v1/subscriptions/sub_1MowQVLkdIwHu7ixeRlqHVzs", "GET /v1/subscriptions/{id}")]
    public void StripeEndpoint_ReplacesIdsSoLabelsStayFew(string method, string path, string label) =>
        AppMetrics.StripeEndpoint(method, path).ShouldBe(label);
}
