using System.Net;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using GenSaaS.Web.Features.Billing.Webhooks;
using Hangfire;
using Hangfire.Storage.Monitoring;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// An event that never applies is retried on the one schedule and then left alone. No Hangfire server runs here: the test
/// reads each scheduled retry from Hangfire's storage, checks its delay, and performs it itself, so no real time is waited.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class WebhookRetryScheduleTests() : IDisposable
{
    private readonly BillingTestApp _app = new(new Dictionary<string, string?> { ["Jobs:RunServer"] = "false" });

    public void Dispose() => _app.Dispose();

    private static readonly int[] Schedule = [2, 10, 60, 300, 1800, 3600, 14400, 43200];

    /// <summary>A paid bundle for a customer this app never hears of: it fails to apply every time.</summary>
    private static string NeverApplyingEvent() => BillingTestApp.PaidBundleEvent("cus_unknown_" + Guid.NewGuid().ToString("N")[..12]);

    private Task DeliverAsync(string payload) => _app.DeliverSignedAsync(payload);

    private List<KeyValuePair<string, ScheduledJobDto>> ScheduledRetries(string eventId) =>
        _app.Services.GetRequiredService<JobStorage>().GetMonitoringApi().ScheduledJobs(0, 1000)
            .Where(j => j.Value.Job?.Type == typeof(StripeEventRetryJob) && Equals(j.Value.Job.Args[0], eventId))
            .ToList();

    /// <summary>Runs the scheduled job as Hangfire's worker would (its method, its stored arguments), then removes it from the schedule.</summary>
    private async Task PerformAsync(KeyValuePair<string, ScheduledJobDto> scheduled)
    {
        using (var scope = _app.Services.CreateScope())
        {
            var job = scope.ServiceProvider.GetRequiredService<StripeEventRetryJob>();
            var args = scheduled.Value.Job.Args.Select(a => a ?? CancellationToken.None).ToArray();
            await (Task)scheduled.Value.Job.Method.Invoke(job, args)!;
        }
        _app.Services.GetRequiredService<IBackgroundJobClient>().Delete(scheduled.Key).ShouldBeTrue();
    }

    [Fact]
    public async Task AnEventThatKeepsFailing_IsRetriedOnTheSchedule_AndStopsAfterItsLastEntry()
    {
        StripeEventRetryJob.DelaysSeconds.ShouldBe(Schedule);
        var payload = NeverApplyingEvent();
        var eventId = StripeWebhooks.TopLevelId(payload)!;

        await DeliverAsync(payload);
        // Stripe delivers it again while it fails: that starts no second schedule.
        await DeliverAsync(payload);

        for (var retry = 0; retry < Schedule.Length; retry++)
        {
            var scheduled = ScheduledRetries(eventId).ShouldHaveSingleItem($"retry {retry}");
            scheduled.Value.Job.Args[1].ShouldBe(retry);
            var delay = scheduled.Value.EnqueueAt - scheduled.Value.ScheduledAt!.Value;
            delay.TotalSeconds.ShouldBe(Schedule[retry], tolerance: 1, $"delay before retry {retry}");

            await PerformAsync(scheduled);
        }

        ScheduledRetries(eventId).ShouldBeEmpty();
        var stored = await _app.QueryAsync<(string Status, long Attempts)>("SELECT status, attempts FROM stripe_events WHERE id = @eventId", new { eventId });
        stored.Status.ShouldBe("failed");
        stored.Attempts.ShouldBe(2 + Schedule.Length);
    }

    [Fact]
    public void HangfireDoesNotRetryTheJob_SoTheScheduleAboveIsTheOnlyOne()
    {
        var run = typeof(StripeEventRetryJob).GetMethod(nameof(StripeEventRetryJob.RunAsync))!;
        run.GetCustomAttribute<AutomaticRetryAttribute>().ShouldNotBeNull().Attempts.ShouldBe(0);
        typeof(StripeEventRetryJob).GetCustomAttribute<AutomaticRetryAttribute>().ShouldBeNull();
    }

    [Fact]
    public async Task ARetryThatApplies_SchedulesNoMore()
    {
        var payload = NeverApplyingEvent();
        var eventId = StripeWebhooks.TopLevelId(payload)!;
        await DeliverAsync(payload);
        var customerId = JsonNode.Parse(payload)!["data"]!["object"]!["customer"]!.GetValue<string>();
        var user = await _app.CreateUserAsync($"retry-{Guid.NewGuid():N}@example.com");
        await _app.ExecuteAsync("INSERT INTO billing_customers (user_id, stripe_customer_id, updated_at) VALUES (@userId, @customerId, '2026-01-01 00:00:00')",
            new { userId = user.Id, customerId });

        await PerformAsync(ScheduledRetries(eventId).ShouldHaveSingleItem());

        ScheduledRetries(eventId).ShouldBeEmpty();
        (await _app.QueryAsync<string>("SELECT status FROM stripe_events WHERE id = @eventId", new { eventId })).ShouldBe("applied");
        (await _app.PrepaidAsync(user.Id)).ShouldBe(10);
    }
}
