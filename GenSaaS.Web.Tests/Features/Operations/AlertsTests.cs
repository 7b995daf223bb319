using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GenSaaS.Web.Features.Billing.Webhooks;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Tests.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Operations;

/// <summary>
/// Operator alerts: a failing webhook opens one alert, emailed once to each admin and posted once to a Slack-style receiver,
/// however often the rules run; fixing and replaying the event resolves it, once. No job server runs: the test runs the rules.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class AlertsTests : IDisposable
{
    private readonly SmtpCatcher _smtp = new();
    private const string HookPath = "/hooks/alerts/";
    private readonly HttpReceiver _receiver = new();

    public void Dispose()
    {
        _receiver.Dispose();
        _smtp.Dispose();
    }

    private BillingTestApp NewApp(Dictionary<string, string?>? more = null)
    {
        var settings = _smtp.Settings(new()
        {
            ["Jobs:RunServer"] = "false",
            ["Operations:Alerts:WebhookUrl"] = _receiver.Url(HookPath),
        });
        foreach (var (key, value) in more ?? [])
            settings[key] = value;
        return new BillingTestApp(settings);
    }

    private List<string> Posts => _receiver.Bodies(HookPath);

    private static async Task<IReadOnlyList<AlertRow>> RunRulesAsync(TestApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<Alerts>().RunAsync(CancellationToken.None);
    }

    private List<string> Subjects(string email) => _smtp.To(email).Select(m => m.Subject ?? "").ToList();

    [Fact]
    public async Task AFailingWebhook_OpensOneAlert_EmailedAndPostedOnce_AndReplayingItResolvesItOnce()
    {
        using var app = NewApp();
        var (_, adminClient) = await app.SignedInUserAsync("ops-one@example.com", admin: true);
        await app.CreateUserAsync("ops-two@example.com", admin: true);
        var customer = await app.CreateUserAsync("customer@example.com");
        var customerId = "cus_unknown" + Guid.NewGuid().ToString("N")[..12];
        var payload = BillingTestApp.PaidBundleEvent(customerId);
        var eventId = JsonNode.Parse(payload)!["id"]!.GetValue<string>();

        await app.DeliverSignedAsync(payload);
        (await app.QueryAsync<string>("SELECT status FROM stripe_events WHERE id = @eventId", new { eventId })).ShouldBe("failed");

        for (var run = 0; run < 3; run++)
        {
            var open = await RunRulesAsync(app);
            open.Count(a => a.Rule == "webhook_failed" && a.Subject == eventId).ShouldBe(1);
        }
        (await app.QueryAsync<long>("SELECT count(*) FROM alerts WHERE rule = 'webhook_failed'")).ShouldBe(1);
        foreach (var admin in new[] { "ops-one@example.com", "ops-two@example.com" })
            Subjects(admin).Count(s => s.StartsWith("[GenSaaS alert]", StringComparison.Ordinal)).ShouldBe(1, admin);
        _smtp.To("customer@example.com").ShouldBeEmpty();
        Posts.Count.ShouldBe(1);
        var posted = JsonDocument.Parse(Posts.Single()).RootElement;
        posted.GetProperty("text").GetString()!.ShouldContain("checkout.session.completed failed to apply");
        posted.GetProperty("alert").GetProperty("state").GetString().ShouldBe("opened");
        posted.GetProperty("alert").GetProperty("subject").GetString().ShouldBe(eventId);

        var page = await adminClient.GetStringAsync("/admin");
        page.ShouldContain("data-rule=\"webhook_failed\"");

        // Every link of the alert opens the event that failed (with its payload and Replay), not the list of all events.
        var eventPath = $"/admin/billing/events/{eventId}";
        var link = posted.GetProperty("alert").GetProperty("link").GetString()!;
        new Uri(link).AbsolutePath.ShouldBe(eventPath);
        page.ShouldContain($"href=\"{eventPath}\"");
        foreach (var admin in new[] { "ops-one@example.com", "ops-two@example.com" })
            _smtp.To(admin).Single(m => (m.Subject ?? "").StartsWith("[GenSaaS alert]", StringComparison.Ordinal)).TextBody.ShouldNotBeNull().ShouldContain(link);
        var opened = await adminClient.GetAsync(eventPath);
        opened.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await opened.Content.ReadAsStringAsync()).ShouldContain(eventId);

        // The cause is fixed (the customer is known now) and the event replayed: it applies, and the alert resolves once.
        await app.ExecuteAsync("INSERT INTO billing_customers (user_id, stripe_customer_id, updated_at) VALUES (@Id, @customerId, '2026-01-01')",
            new { customer.Id, customerId });
        await using (var scope = app.Services.CreateAsyncScope())
            (await scope.ServiceProvider.GetRequiredService<StripeWebhooks>().ReplayAsync(eventId, CancellationToken.None)).ShouldBe(true);
        for (var run = 0; run < 2; run++)
            (await RunRulesAsync(app)).ShouldNotContain(a => a.Rule == "webhook_failed");

        foreach (var admin in new[] { "ops-one@example.com", "ops-two@example.com" })
        {
            Subjects(admin).Count(s => s.StartsWith("[GenSaaS alert]", StringComparison.Ordinal)).ShouldBe(1, admin);
            Subjects(admin).Count(s => s.StartsWith("[GenSaaS resolved]", StringComparison.Ordinal)).ShouldBe(1, admin);
        }
        Posts.Count.ShouldBe(2);
        JsonDocument.Parse(Posts.Last()).RootElement.GetProperty("alert").GetProperty("state").GetString().ShouldBe("resolved");
        (await adminClient.GetStringAsync("/admin")).ShouldNotContain("data-rule=\"webhook_failed\"");

        // A customer never sees the alerts.
        var customerClient = await app.SignInAsync("customer@example.com");
        (await customerClient.GetAsync("/admin")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task AReceiverThatFails_IsTriedAgainOnTheNextRun_WithoutASecondEmail()
    {
        using var app = NewApp(new() { ["Operations:Alerts:MinFreeDiskPercent"] = "100" });
        await app.CreateUserAsync("ops@example.com", admin: true);
        _receiver.Failing = true;

        (await RunRulesAsync(app)).ShouldContain(a => a.Rule == "disk_space");
        Posts.ShouldBeEmpty();
        _receiver.Failing = false;
        await RunRulesAsync(app);
        await RunRulesAsync(app);

        Posts.Count.ShouldBe(1);
        Subjects("ops@example.com").Count(s => s.Contains("disk is almost full", StringComparison.Ordinal)).ShouldBe(1);
    }

    [Fact]
    public async Task ServerErrorsAboveTheRate_OpenAnAlert_AndAQuietServerDoesNot()
    {
        using var app = NewApp(new() { ["Operations:Alerts:ErrorRateMinRequests"] = "10", ["Operations:Alerts:ErrorRatePercent"] = "20" });
        var window = app.Services.GetRequiredService<ErrorRateWindow>();
        for (var i = 0; i < 3; i++)
            window.Record(500);
        (await RunRulesAsync(app)).ShouldNotContain(a => a.Rule == "error_rate", "3 answers are too few to judge");

        for (var i = 0; i < 7; i++)
            window.Record(200);
        var open = await RunRulesAsync(app);
        open.ShouldContain(a => a.Rule == "error_rate");
        open.Single(a => a.Rule == "error_rate").Detail.ShouldContain("3 of 10");

        for (var i = 0; i < 20; i++)
            window.Record(200);
        (await RunRulesAsync(app)).ShouldNotContain(a => a.Rule == "error_rate");
        (await app.QueryAsync<long>("SELECT count(*) FROM alerts WHERE rule = 'error_rate' AND resolved_at IS NOT NULL")).ShouldBe(1);
    }

    [Fact]
    public async Task AReconciliationWithDifferences_OpensAnAlert_UntilALaterRunMatches()
    {
        using var app = NewApp();
        const string run = """
            INSERT INTO reconciliation_runs (period_from, period_to, trigger, status, differences, created_at, finished_at)
            VALUES ('2026-12-01', '2026-12-02', 'cli', @status, @differences, '2026-12-02T01:00:00', '2026-12-02T01:01:00');
            """;
        await app.ExecuteAsync(run, new { status = "differences", differences = 2 });
        var open = await RunRulesAsync(app);
        open.Single(a => a.Rule == "reconciliation").Detail.ShouldContain("2 line(s)");
        (await RunRulesAsync(app)).Count(a => a.Rule == "reconciliation").ShouldBe(1);

        await app.ExecuteAsync(run, new { status = "matched", differences = 0 });
        (await RunRulesAsync(app)).ShouldNotContain(a => a.Rule == "reconciliation");
        Posts.Count.ShouldBe(2);
    }
}
