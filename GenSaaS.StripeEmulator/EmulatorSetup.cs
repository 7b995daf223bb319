using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// The <c>Billing:Emulator</c> configuration section, plus what only the host knows (its data folder, its public address,
/// who may use the dev controls), which it sets in the delegate it gives <see cref="EmulatorSetup.AddStripeEmulator"/>.
/// </summary>
public sealed class EmulatorOptions
{
    /// <summary>The emulator's own SQLite file (Stripe objects, events, deliveries, its keys).</summary>
    [Required] public string DatabaseFile { get; set; } = "";

    /// <summary>The address the hosted Checkout and portal pages are linked at, and webhooks go to; empty means the address an API call came to.</summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>The only key the emulated API accepts; empty means one generated on first start and kept in <see cref="DatabaseFile"/>.</summary>
    public string? SecretKey { get; set; }

    /// <summary>The secret webhooks are signed with; empty means one generated on first start and kept in <see cref="DatabaseFile"/>.</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>Where events are POSTed; empty means <see cref="WebhookPath"/> at <see cref="PublicBaseUrl"/> or at the address the app listens on.</summary>
    public string? WebhookUrl { get; set; }

    /// <summary>The host's webhook route, used when no <see cref="WebhookUrl"/> is set.</summary>
    public string? WebhookPath { get; set; }

    /// <summary>Who may use the dev controls (they move the emulated clock); nobody unless the host says.</summary>
    public Func<HttpContext, bool>? CanUseDevControls { get; set; }

    /// <summary>
    /// The API version webhook events are rendered in (their <c>api_version</c>), as Stripe renders each event in its endpoint's
    /// version; empty means the version Stripe.net pins. Set another (e.g. "2024-06-20") to see the app handle such events.
    /// </summary>
    [RegularExpression(EmulatedStripe.ApiVersionPattern)] public string? EventApiVersion { get; set; }

    /// <summary>Delivery faults to inject, combinable: <c>Duplicate</c>, <c>Delay</c>, <c>Shuffle</c> (e.g. "Duplicate, Shuffle").</summary>
    public DeliveryFaults Faults { get; set; }

    /// <summary>API faults to inject from start (429, 500, answers held past the client's timeout); none by default.</summary>
    public ApiFaults ApiFaults { get; set; } = new();

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

    /// <summary>Smart Retries: how many times a failed renewal payment is retried (Stripe recommends 8 tries within 2 weeks).</summary>
    [Range(0, 50)] public int RenewalRetries { get; set; } = 8;

    /// <summary>Smart Retries: the days over which the retries are spread, from the first attempt.</summary>
    [Range(1, 60)] public int RenewalRetryWindowDays { get; set; } = 14;

    /// <summary>The account's "if all retries for a payment fail" setting: <c>Canceled</c>, <c>Unpaid</c> or <c>PastDue</c> (left as it is).</summary>
    public SubscriptionStatusAfterRetries SubscriptionStatusAfterRetries { get; set; } = SubscriptionStatusAfterRetries.Canceled;

    /// <summary>How often the delivery loop looks for due deliveries when it is idle.</summary>
    [Range(10, 60_000)] public int PollIntervalMilliseconds { get; set; } = 200;
}

/// <summary>What a subscription becomes once every retry of a renewal payment has failed, as Stripe's subscription settings offer.</summary>
public enum SubscriptionStatusAfterRetries
{
    /// <summary>Cancel the subscription (<c>customer.subscription.deleted</c>, reason <c>payment_failed</c>).</summary>
    Canceled,
    /// <summary>Mark it unpaid: it stays, invoices are still made but no payment is attempted.</summary>
    Unpaid,
    /// <summary>Leave it past_due.</summary>
    PastDue,
}

/// <summary>
/// The Stripe emulator: Stripe's API at <c>/emulator/stripe/v1</c> (point Stripe.net at it with
/// <c>new StripeClient(key, apiBase: "{base}/emulator/stripe")</c>), the hosted pages <c>/emulator/checkout/{id}</c> and
/// <c>/emulator/portal/{id}</c>, signed webhooks, and dev controls at <c>/emulator/dev</c>
/// (<c>POST /emulator/dev/advance?days=31</c>, <c>POST /emulator/dev/faults?set=Duplicate,Shuffle</c>,
/// <c>POST /emulator/dev/api-faults?serverError=30&amp;route=POST%20/payment_intents</c>,
/// <c>POST /emulator/dev/api-version?set=2024-06-20</c>, <c>POST /emulator/dev/discrepancy?kind=refund&amp;charge=ch_...</c>).
/// </summary>
public static class EmulatorSetup
{
    public const string Section = "Billing:Emulator";

    /// <summary>
    /// Adds the emulator. Its keys are settled here, before anything is built: configured, else read from (or generated into)
    /// its database, and then published as <c>Billing:Emulator:SecretKey</c> and <c>Billing:Emulator:WebhookSecret</c>, so a
    /// client of the emulator reads them from configuration like any other Stripe key. Everything it starts stops with the host.
    /// </summary>
    public static IHostApplicationBuilder AddStripeEmulator(this IHostApplicationBuilder builder, Action<EmulatorOptions> host)
    {
        var options = builder.Configuration.GetSection(Section).Get<EmulatorOptions>() ?? new EmulatorOptions();
        host(options);
        if (string.IsNullOrWhiteSpace(options.DatabaseFile))
            throw new InvalidOperationException("The Stripe emulator needs a database file (EmulatorOptions.DatabaseFile).");
        using (var store = new EmulatorStore(options.DatabaseFile))
        {
            var (secretKey, webhookSecret) = EmulatedStripe.ResolveKeys(store, options);
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                [Section + ":SecretKey"] = secretKey,
                [Section + ":WebhookSecret"] = webhookSecret,
            });
        }

        var services = builder.Services;
        services.AddOptions<EmulatorOptions>().BindConfiguration(Section).Configure(host).ValidateDataAnnotations()
            .Validate(o => o.ApiFaults.Problem() is null, "Billing:Emulator:ApiFaults: " + new ApiFaults { RateLimitPercent = 101 }.Problem())
            .ValidateOnStart();
        services.AddSingleton(sp => new EmulatorStore(sp.GetRequiredService<IOptions<EmulatorOptions>>().Value.DatabaseFile));
        services.AddSingleton(sp => new EmulatedStripe(
            sp.GetRequiredService<EmulatorStore>(),
            sp.GetRequiredService<IOptions<EmulatorOptions>>(),
            sp.GetRequiredService<ILogger<EmulatedStripe>>()));
        services.AddHttpClient(WebhookDispatcher.HttpClientName);
        services.AddHostedService<WebhookDispatcher>();
        services.AddHostedService<BillingCycleService>();
        return builder;
    }

    /// <summary>Maps the API and the dev controls; returns the dev controls' group, for the host's own conventions (e.g. CSRF metadata).</summary>
    public static RouteGroupBuilder MapStripeEmulator(this IEndpointRouteBuilder endpoints)
    {
        EmulatorApi.Map(endpoints);

        var dev = endpoints.MapGroup("/emulator/dev").ExcludeFromDescription().AddEndpointFilter(async (context, next) =>
            CanUseDevControls(context.HttpContext) ? await next(context) : Results.NotFound());
        dev.MapGet("/clock", (EmulatedStripe emulator) => Results.Json(new { now = emulator.Now, unix = emulator.Now.ToUnixTimeSeconds() }));
        dev.MapPost("/advance", async (EmulatedStripe emulator, double? days, double? hours, double? minutes) =>
        {
            var by = TimeSpan.FromDays(days ?? 0) + TimeSpan.FromHours(hours ?? 0) + TimeSpan.FromMinutes(minutes ?? 0);
            if (by <= TimeSpan.Zero) return Results.BadRequest(new { error = "Give days, hours or minutes greater than zero." });
            var now = await emulator.AdvanceClockAsync(by);
            return Results.Json(new { now, unix = now.ToUnixTimeSeconds() });
        });
        dev.MapPost("/faults", async (EmulatedStripe emulator, string? set) =>
        {
            DeliveryFaults? faults = null;
            if (!string.IsNullOrWhiteSpace(set) && !string.Equals(set, "configured", StringComparison.OrdinalIgnoreCase))
            {
                if (!Enum.TryParse<DeliveryFaults>(set, ignoreCase: true, out var parsed))
                    return Results.BadRequest(new { error = "set is a comma-separated list of None, Duplicate, Delay, Shuffle, Drop, or 'configured'." });
                faults = parsed;
            }
            await emulator.SetFaultsAsync(faults);
            return Results.Json(new { faults = emulator.Faults.ToString() });
        });
        dev.MapGet("/api-faults", (EmulatedStripe emulator) => Results.Json(new { faults = emulator.ApiFaultsInForce.ToString() }));
        dev.MapPost("/api-faults", (EmulatedStripe emulator, int? rateLimit, int? serverError, int? timeout, int? holdSeconds, string? route, int? limit, string? set) =>
        {
            if (string.Equals(set, "configured", StringComparison.OrdinalIgnoreCase))
            {
                emulator.SetApiFaults(null);
                return Results.Json(new { faults = emulator.ApiFaultsInForce.ToString() });
            }
            var faults = new ApiFaults
            {
                RateLimitPercent = rateLimit ?? 0,
                ServerErrorPercent = serverError ?? 0,
                TimeoutPercent = timeout ?? 0,
                HoldSeconds = holdSeconds ?? 30,
                Route = route,
                Limit = limit ?? 0,
            };
            if (faults.Problem() is { } problem || limit < 0)
                return Results.BadRequest(new { error = faults.Problem() ?? "limit is 0 (no limit) or more." });
            emulator.SetApiFaults(faults);
            return Results.Json(new { faults = emulator.ApiFaultsInForce.ToString() });
        });
        dev.MapPost("/discrepancy", async (EmulatedStripe emulator, string? kind, string? customer, string? charge, long? amount, string? currency) =>
        {
            if (!Enum.TryParse<Discrepancy>(kind, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed) || int.TryParse(kind, out _))
                return Results.BadRequest(new { error = "kind is charge (customer, amount, currency), refund (charge, amount) or amount (charge, amount)." });
            try
            {
                return Results.Text(await emulator.InjectDiscrepancyAsync(parsed, customer, charge, amount, currency), "application/json");
            }
            catch (StripeApiException refused)
            {
                return Results.Text(refused.ToJson().ToJsonString(), "application/json", statusCode: refused.Status);
            }
        });
        dev.MapPost("/api-version", async (EmulatedStripe emulator, string? set) =>
        {
            string? version = null;
            if (!string.IsNullOrWhiteSpace(set) && !string.Equals(set, "configured", StringComparison.OrdinalIgnoreCase))
            {
                if (!EmulatedStripe.IsApiVersion(set.Trim()))
                    return Results.BadRequest(new { error = "set is an API version such as 2024-06-20 or 2025-03-31.basil, or 'configured'." });
                version = set.Trim();
            }
            await emulator.SetEventApiVersionAsync(version);
            return Results.Json(new { api_version = emulator.EventApiVersion });
        });
        return dev;
    }

    /// <summary>The dev controls move money-relevant state (the clock): only for callers the host's <see cref="EmulatorOptions.CanUseDevControls"/> lets in.</summary>
    internal static bool CanUseDevControls(HttpContext http) =>
        http.RequestServices.GetService<EmulatedStripe>() is { } emulator && emulator.Options.CanUseDevControls?.Invoke(http) == true;
}
