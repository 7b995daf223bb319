using System.Net;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Billing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// Pay-per-use holds against Stripe's capture deadline, driven by the emulator's clock: the app here tells time by the
/// emulator's clock, as the app and Stripe share real time in production.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class HoldExpiryTests
{
    private sealed class EmulatorTime(IServiceProvider services) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => services.GetRequiredService<EmulatedStripe>().Now;
    }

    /// <summary>The error-level lines of the app's log file naming the event id, as an operator's alerting reads them.</summary>
    private static List<string> Alerts(BillingTestApp app, EventId eventId)
    {
        var lines = new List<string>();
        foreach (var file in Directory.EnumerateFiles(app.DataDir, "gensaas-*.log", SearchOption.AllDirectories))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { } line)
                if (line.Contains("[ERR]") && line.Contains($"\"Name\":\"{eventId.Name}\""))
                    lines.Add(line);
        }
        return lines;
    }

    private sealed class ClockedApp() : BillingTestApp(new() { ["Billing:Stripe:MaxNetworkRetries"] = "0" })
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(sp => new EmulatorTime(sp)));
        }
    }

    private static async Task<(string UserId, HttpClient Client, string UsageId, string PaymentIntentId)> GeneratedWithCaptureFailingAsync(BillingTestApp app)
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id }) is not null, "card saved");
        app.Emulator.SetApiFaults(new ApiFaults { ServerErrorPercent = 100, Route = "POST /payment_intents/pi_" });
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT capture_attempts FROM usage_charges WHERE user_id = @id", new { id = user.Id }) >= 1, "capture tried");
        var (usageId, paymentIntentId) = await app.QueryAsync<(string, string)>("SELECT usage_id, payment_intent_id FROM usage_charges WHERE user_id = @id", new { id = user.Id });
        return (user.Id, client, usageId, paymentIntentId);
    }

    private static HoldWatchdog Watchdog(BillingTestApp app) => app.Services.CreateScope().ServiceProvider.GetRequiredService<HoldWatchdog>();

    [Fact]
    public async Task Watchdog_CapturesAHoldADayBeforeStripesDeadline_AndAlertsWhileItCannot()
    {
        using var app = new ClockedApp();
        var (userId, _, usageId, paymentIntentId) = await GeneratedWithCaptureFailingAsync(app);
        var charge = await new ChargeService(app.StripeClient).GetAsync((await new PaymentIntentService(app.StripeClient).GetAsync(paymentIntentId)).LatestChargeId);
        var deadline = await app.QueryAsync<DateTime>("SELECT capture_before FROM usage_charges WHERE usage_id = @usageId", new { usageId });
        deadline.ShouldBe(charge.PaymentMethodDetails.Card.CaptureBefore, TimeSpan.FromSeconds(1));

        (await Watchdog(app).RunAsync(CancellationToken.None)).ShouldBe(0, "days before the deadline nothing is at risk");
        await app.AdvanceClockAsync(4);
        (await new PaymentIntentService(app.StripeClient).GetAsync(paymentIntentId)).Status.ShouldBe("requires_capture");

        Alerts(app, BillingLogEvents.HoldAtRisk).ShouldBeEmpty();
        (await Watchdog(app).RunAsync(CancellationToken.None)).ShouldBe(1, "Stripe still fails: the hold is alerted");
        Alerts(app, BillingLogEvents.HoldAtRisk).ShouldContain(line => line.Contains(usageId));
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        (await admin.GetStringAsync("/admin/billing/captures")).ShouldContain($"data-usage-id=\"{usageId}\"");

        app.Emulator.SetApiFaults(new ApiFaults());
        (await Watchdog(app).RunAsync(CancellationToken.None)).ShouldBe(0);
        (await app.QueryAsync<string>("SELECT state FROM usage_charges WHERE usage_id = @usageId", new { usageId })).ShouldBe("captured");
        (await new PaymentIntentService(app.StripeClient).GetAsync(paymentIntentId)).Status.ShouldBe("succeeded");
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @userId AND kind = 'capture'", new { userId })).ShouldBe(1);
    }

    [Fact]
    public async Task HoldNobodyCaptured_ExpiresAtStripe_AndTheAppRecordsTheGenerationAsUnpaid()
    {
        using var app = new ClockedApp();
        var (userId, _, usageId, paymentIntentId) = await GeneratedWithCaptureFailingAsync(app);

        await app.AdvanceClockAsync(5);
        var intent = await new PaymentIntentService(app.StripeClient).GetAsync(paymentIntentId);
        intent.Status.ShouldBe("canceled");
        intent.CancellationReason.ShouldBe("automatic");
        var charge = await new ChargeService(app.StripeClient).GetAsync(intent.LatestChargeId);
        charge.Captured.ShouldBeFalse();
        charge.Refunded.ShouldBeTrue();

        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string>("SELECT state FROM usage_charges WHERE usage_id = @usageId", new { usageId }) == "canceled", "hold recorded as expired");
        (await app.QueryAsync<string>("SELECT error FROM usage_charges WHERE usage_id = @usageId", new { usageId })).ShouldContain("expired");
        await BillingTestApp.EventuallyAsync(() => Task.FromResult(Alerts(app, BillingLogEvents.HoldExpired).Any(line => line.Contains(usageId))), "expiry alerted");
        (await app.QueryAsync<string>("SELECT state FROM usage WHERE id = @usageId", new { usageId })).ShouldBe("succeeded");
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @userId AND kind = 'capture'", new { userId })).ShouldBe(0);
        (await app.QueryAsync<string>("SELECT status FROM payments WHERE user_id = @userId AND kind = 'authorisation'", new { userId })).ShouldBe("canceled");

        (await Watchdog(app).RunAsync(CancellationToken.None)).ShouldBe(0);
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        (await admin.GetStringAsync("/admin/billing/captures")).ShouldContain($"data-usage-id=\"{usageId}\"");
        // Capturing afterwards is refused by Stripe and changes nothing.
        await app.Services.CreateScope().ServiceProvider.GetRequiredService<PayPerUse>().CaptureAsync(usageId, CancellationToken.None);
        (await app.QueryAsync<string>("SELECT state FROM usage_charges WHERE usage_id = @usageId", new { usageId })).ShouldBe("canceled");
    }
}
