using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Dapper;
using GenSaaS.Web.Data;
using Hangfire;
using Microsoft.Extensions.Options;
using Prometheus;

namespace GenSaaS.Web.Features.Operations;

/// <summary>The <c>Operations:Metrics</c> section.</summary>
public sealed class MetricsOptions
{
    /// <summary>Bearer token a scraper must send to <c>/metrics</c>; empty = no metrics endpoint at all (404).</summary>
    public string? Token { get; set; }
}

/// <summary>
/// This app's Prometheus metrics, in a registry of its own (not prometheus-net's process-wide default, so two apps in one
/// process never count each other's work). Features record what happens; what is cheaper to read than to count (queue
/// depth, jobs, open holds, failed webhooks) is read when scraped.
/// </summary>
public sealed partial class AppMetrics
{
    public AppMetrics()
    {
        var factory = Metrics.WithCustomRegistry(Registry);
        DotNetStats.Register(Registry);
        Generations = factory.CreateCounter("gensaas_generations_total",
            "Generation requests by outcome (succeeded, replayed, or the problem code) and funding source (trial, prepaid, subscription, pay_per_use, none).",
            "outcome", "funding");
        Reservations = factory.CreateHistogram("gensaas_reservation_duration_seconds",
            "Time to reserve a generation's funding in the ledger (one write-queue transaction).",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 14) });
        WebhookEvents = factory.CreateCounter("gensaas_webhook_events_total",
            "Stripe webhook deliveries by event type and result (applied, ignored, failed, duplicate, rejected).", "type", "result");
        StripeRequests = factory.CreateCounter("gensaas_stripe_requests_total",
            "Calls to Stripe's API by endpoint (ids replaced by {id}) and HTTP status (or timeout, error).", "endpoint", "status");
        StripeDuration = factory.CreateHistogram("gensaas_stripe_request_duration_seconds",
            "Latency of calls to Stripe's API by endpoint.", new HistogramConfiguration
            {
                LabelNames = ["endpoint"],
                Buckets = Histogram.ExponentialBuckets(0.005, 2, 12),
            });
        RateLimited = factory.CreateCounter("gensaas_rate_limit_rejections_total", "Requests refused by a rate limit, by limiter.", "limiter");
        EmailsSent = factory.CreateCounter("gensaas_emails_total", "Emails handed to the mail relay (or the outbox), by template and result (sent, failed).", "template", "result");
        _writeQueueDepth = factory.CreateGauge("gensaas_write_queue_depth", "Writes waiting for the write queue when scraped.");
        _writeQueueBatches = factory.CreateCounter("gensaas_write_queue_batches_total", "Transactions the write queue committed since start.");
        _writeQueueItems = factory.CreateCounter("gensaas_write_queue_items_total",
            "Writes those transactions committed since start (divided by batches: the mean batch size).");
        _jobs = factory.CreateGauge("gensaas_jobs", "Background jobs by state when scraped (failed: waiting for an operator).", "state");
        _openHolds = factory.CreateGauge("gensaas_open_holds", "Pay-per-use card holds not yet captured or canceled, and the oldest one's age.", "measure");
        _failedWebhooks = factory.CreateGauge("gensaas_webhook_events_failed", "Stripe events stored as failed (retrying or waiting for Replay).");
    }

    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    public Counter Generations { get; }
    public Histogram Reservations { get; }
    public Counter WebhookEvents { get; }
    public Counter StripeRequests { get; }
    public Histogram StripeDuration { get; }
    public Counter RateLimited { get; }
    public Counter EmailsSent { get; }

    private readonly Gauge _writeQueueDepth;
    private readonly Counter _writeQueueBatches;
    private readonly Counter _writeQueueItems;
    private readonly Gauge _jobs;
    private readonly Gauge _openHolds;
    private readonly Gauge _failedWebhooks;

    public void Generation(string outcome, string? funding) => Generations.WithLabels(outcome, funding ?? "none").Inc();

    private const string ScrapeSql = """
        SELECT
          (SELECT count(*) FROM usage_charges WHERE state IN ('pending', 'authorised')) AS OpenHolds,
          (SELECT min(created_at) FROM usage_charges WHERE state IN ('pending', 'authorised')) AS OldestHold,
          (SELECT count(*) FROM stripe_events WHERE status = 'failed') AS FailedWebhooks;
        """;

    /// <summary>Reads the gauges that come from the database, the write queue and the job storage.</summary>
    public async Task ReadStateAsync(Db db, JobStorage jobs, TimeProvider clock, CancellationToken ct)
    {
        var (depth, batches, items) = db.WriteQueueStats;
        _writeQueueDepth.Set(depth);
        _writeQueueBatches.IncTo(batches);
        _writeQueueItems.IncTo(items);

        await using (var connection = await db.OpenAsync(ct))
        {
            var state = await connection.QuerySingleAsync<(long OpenHolds, string? OldestHold, long FailedWebhooks)>(new CommandDefinition(ScrapeSql, cancellationToken: ct));
            _openHolds.WithLabels("count").Set(state.OpenHolds);
            _openHolds.WithLabels("oldest_age_seconds").Set(state.OldestHold is { } oldest && DateTime.TryParse(oldest, null, System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal, out var at)
                ? Math.Max(0, (clock.GetUtcNow().UtcDateTime - at).TotalSeconds)
                : 0);
            _failedWebhooks.Set(state.FailedWebhooks);
        }

        var stats = jobs.GetMonitoringApi().GetStatistics();
        _jobs.WithLabels("enqueued").Set(stats.Enqueued);
        _jobs.WithLabels("scheduled").Set(stats.Scheduled);
        _jobs.WithLabels("processing").Set(stats.Processing);
        _jobs.WithLabels("failed").Set(stats.Failed);
        _jobs.WithLabels("succeeded").Set(stats.Succeeded);
    }

    /// <summary>A Stripe API path as a label: <c>/v1/payment_intents/pi_123/capture</c> → <c>/v1/payment_intents/{id}/capture</c>.</summary>
    public static string StripeEndpoint(string method, string path)
    {
        var at = path.IndexOf("/v1/", StringComparison.Ordinal);
        var v1 = at >= 0 ? path[at..] : path;
        return method + " " + StripeId().Replace(v1, "/{id}");
    }

    // An id is prefix_random: lower-case words and underscores, then base62 with a digit or capital (resource names have neither).
    [GeneratedRegex(@"/(?:[a-z]+_)+(?=[A-Za-z0-9]*[A-Z0-9])[A-Za-z0-9]{6,}(?=/|$)")]
    private static partial Regex StripeId();

    /// <summary>Constant-time check of a scraper's <c>Authorization: Bearer</c> against the configured token.</summary>
    public static bool Authorized(HttpRequest request, string token)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return false;
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(given, SHA256.HashData(Encoding.UTF8.GetBytes(token)));
    }

    /// <summary><c>GET /metrics</c>: only with <c>Operations:Metrics:Token</c> set, and then only for a caller that sends it.</summary>
    public static void Map(WebApplication app)
    {
        app.MapGet("/metrics", async (HttpContext http, AppMetrics metrics, Db db, JobStorage jobs, TimeProvider clock, IOptionsMonitor<MetricsOptions> options, CancellationToken ct) =>
        {
            if (options.CurrentValue.Token is not { Length: > 0 } token)
                return Results.NotFound();
            if (!Authorized(http.Request, token))
            {
                http.Response.Headers.WWWAuthenticate = "Bearer realm=\"metrics\"";
                return Results.Unauthorized();
            }
            await metrics.ReadStateAsync(db, jobs, clock, ct);
            using var body = new MemoryStream();
            await metrics.Registry.CollectAndExportAsTextAsync(body, ct);
            return Results.Bytes(body.ToArray(), "text/plain; version=0.0.4; charset=utf-8");
        }).AllowAnonymous().ExcludeFromDescription();
    }
}

/// <summary>Counts and times every call the Stripe client makes (a handler under Stripe.net's own HttpClient).</summary>
public sealed class StripeCallMetricsHandler(AppMetrics metrics) : DelegatingHandler(new SocketsHttpHandler())
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var endpoint = AppMetrics.StripeEndpoint(request.Method.Method, request.RequestUri?.AbsolutePath ?? "");
        var started = Stopwatch.GetTimestamp();
        try
        {
            var response = await base.SendAsync(request, ct);
            metrics.StripeRequests.WithLabels(endpoint, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
            return response;
        }
        catch (Exception ex)
        {
            metrics.StripeRequests.WithLabels(endpoint, ex is OperationCanceledException or TimeoutException ? "timeout" : "error").Inc();
            throw;
        }
        finally
        {
            metrics.StripeDuration.WithLabels(endpoint).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }
}
