using System.ComponentModel.DataAnnotations;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Shared;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Billing.Emulator;

/// <summary>The <c>Billing:Emulator</c> configuration section.</summary>
public sealed class EmulatorOptions
{
    /// <summary>Where events are POSTed; empty means the app's own <c>/api/billing/webhook</c>.</summary>
    public string? WebhookUrl { get; set; }

    /// <summary>Delivery faults to inject, combinable: <c>Duplicate</c>, <c>Delay</c>, <c>Shuffle</c> (e.g. "Duplicate, Shuffle").</summary>
    public DeliveryFaults Faults { get; set; }

    /// <summary>How late events are delivered under the <c>Delay</c> fault.</summary>
    [Range(0, 3600)] public int FaultDelaySeconds { get; set; } = 5;

    /// <summary>How long events are held to be sent out of order under the <c>Shuffle</c> fault.</summary>
    [Range(0, 600_000)] public int ShuffleWindowMilliseconds { get; set; } = 1500;

    /// <summary>Attempts per delivery before it is given up (Stripe retries for days in live mode).</summary>
    [Range(1, 100)] public int MaxDeliveryAttempts { get; set; } = 8;

    /// <summary>Wait before the first retry; each further retry waits twice as long, up to an hour.</summary>
    [Range(1, 3_600_000)] public int RetryBaseDelayMilliseconds { get; set; } = 2000;

    /// <summary>How long one delivery may take before it counts as failed.</summary>
    [Range(1, 300)] public int DeliveryTimeoutSeconds { get; set; } = 10;

    /// <summary>How often the delivery loop looks for due deliveries when it is idle.</summary>
    [Range(10, 60_000)] public int PollIntervalMilliseconds { get; set; } = 200;
}

/// <summary>
/// The Stripe emulator: Stripe's API at <c>/emulator/stripe/v1</c> (point Stripe.net at it with
/// <c>new StripeClient("sk_test_...", apiBase: "{base}/emulator/stripe")</c>), the hosted pages
/// <c>/emulator/checkout/{id}</c> and <c>/emulator/portal/{id}</c>, signed webhooks to <c>Billing:Emulator:WebhookUrl</c>
/// (verify with <see cref="StripeEmulator.WebhookSecret"/>), and dev controls at <c>/emulator/dev</c>
/// (<c>POST /emulator/dev/advance?days=31</c>, <c>POST /emulator/dev/faults?set=Duplicate,Shuffle</c>).
/// </summary>
public static class EmulatorSetup
{
    /// <summary>On when <c>Billing:Mode</c> is <c>Emulator</c>, or when no mode is set and the environment is Development.</summary>
    public static bool IsEnabled(IConfiguration configuration, IHostEnvironment environment)
    {
        var mode = configuration["Billing:Mode"];
        return string.IsNullOrWhiteSpace(mode)
            ? environment.IsDevelopment()
            : string.Equals(mode, "Emulator", StringComparison.OrdinalIgnoreCase);
    }

    public static WebApplicationBuilder AddStripeEmulator(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<EmulatorOptions>().BindConfiguration("Billing:Emulator").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(sp => new EmulatorStore(sp.GetRequiredService<AppPaths>().EmulatorDb));
        builder.Services.AddSingleton(sp => new StripeEmulator(
            sp.GetRequiredService<EmulatorStore>(),
            sp.GetRequiredService<IOptions<EmulatorOptions>>(),
            sp.GetRequiredService<IConfiguration>(),
            sp.GetRequiredService<ILogger<StripeEmulator>>()));
        builder.Services.AddHttpClient(WebhookDispatcher.HttpClientName);
        builder.Services.AddHostedService<WebhookDispatcher>();
        builder.Services.AddHostedService<BillingCycleService>();
        return builder;
    }

    public static WebApplication MapStripeEmulator(this WebApplication app)
    {
        // Created now so the webhook secret exists before the first request needs it.
        app.Services.GetRequiredService<StripeEmulator>();
        EmulatorApi.Map(app);

        // Callable by a loopback address in Development: that is ambient, so even an anonymous POST must come from a same-site caller.
        var dev = app.MapGroup("/emulator/dev").ExcludeFromDescription().WithMetadata(new Shared.RequireSameSiteCallerAttribute()).AddEndpointFilter(async (context, next) =>
            CanUseDevControls(context.HttpContext) ? await next(context) : Results.NotFound());
        dev.MapGet("/clock", (StripeEmulator emulator) => Results.Json(new { now = emulator.Now, unix = emulator.Now.ToUnixTimeSeconds() }));
        dev.MapPost("/advance", async (StripeEmulator emulator, double? days, double? hours, double? minutes) =>
        {
            var by = TimeSpan.FromDays(days ?? 0) + TimeSpan.FromHours(hours ?? 0) + TimeSpan.FromMinutes(minutes ?? 0);
            if (by <= TimeSpan.Zero) return Results.BadRequest(new { error = "Give days, hours or minutes greater than zero." });
            var now = await emulator.AdvanceClockAsync(by);
            return Results.Json(new { now, unix = now.ToUnixTimeSeconds() });
        });
        dev.MapPost("/faults", async (StripeEmulator emulator, string? set) =>
        {
            DeliveryFaults? faults = null;
            if (!string.IsNullOrWhiteSpace(set) && !string.Equals(set, "configured", StringComparison.OrdinalIgnoreCase))
            {
                if (!Enum.TryParse<DeliveryFaults>(set, ignoreCase: true, out var parsed))
                    return Results.BadRequest(new { error = "set is a comma-separated list of None, Duplicate, Delay, Shuffle, or 'configured'." });
                faults = parsed;
            }
            await emulator.SetFaultsAsync(faults);
            return Results.Json(new { faults = emulator.Faults.ToString() });
        });
        return app;
    }

    /// <summary>The dev controls move money-relevant state (the clock): admins, or a local caller in Development (<see cref="DevAccess"/>).</summary>
    public static bool CanUseDevControls(HttpContext http) =>
        http.RequestServices.GetService<StripeEmulator>() is not null && DevAccess.IsAllowed(http);
}
