using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// Delivers the emulator's events to the webhook endpoint as Stripe does: signed JSON POSTs, retried with
/// exponential back-off until a 2xx or the attempts run out, every attempt recorded in <c>deliveries</c>.
/// </summary>
internal sealed partial class WebhookDispatcher(
    EmulatedStripe emulator,
    IHttpClientFactory httpClients,
    IServer server,
    ILogger<WebhookDispatcher> logger) : BackgroundService
{
    public const string HttpClientName = "StripeEmulatorWebhooks";

    private sealed record Due(long Id, string EventId, string? EndpointId, string Json, long Attempts, bool Shuffled);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var options = emulator.Options;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var batch = await DueAsync(stoppingToken);
                if (batch.Count == 0)
                {
                    await Task.Delay(options.PollIntervalMilliseconds, stoppingToken);
                    continue;
                }
                foreach (var delivery in Order(batch))
                    await DeliverAsync(delivery, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogLoopFailed(logger, ex);
                await Task.Delay(options.PollIntervalMilliseconds, stoppingToken);
            }
        }
    }

    /// <summary>In order of creation, except that a shuffled batch goes out scrambled and never in its original order.</summary>
    private static List<Due> Order(List<Due> batch)
    {
        var shuffled = batch.Where(d => d.Shuffled).ToList();
        if (shuffled.Count < 2) return batch;
        var scrambled = shuffled.OrderBy(_ => Random.Shared.Next()).ToList();
        if (scrambled.Select(d => d.Id).SequenceEqual(shuffled.Select(d => d.Id)))
            scrambled.Reverse();
        return [.. batch.Where(d => !d.Shuffled), .. scrambled];
    }

    private const string SelectDue = """
        SELECT d.id AS Id, d.event_id AS EventId, d.endpoint_id AS EndpointId, e.json AS Json, d.attempts AS Attempts, d.shuffled AS Shuffled
        FROM deliveries d JOIN events e ON e.id = d.event_id
        WHERE d.status = 'pending' AND d.due_at_ms <= @nowMs
          -- Shuffled deliveries wait until the whole buffer is due, so they leave together and can be reordered.
          AND (d.shuffled = 0 OR NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.status = 'pending' AND x.shuffled = 1 AND x.due_at_ms > @nowMs))
        ORDER BY d.id
        LIMIT 100;
        """;

    private async Task<List<Due>> DueAsync(CancellationToken ct)
    {
        await using var connection = await emulator.Store.OpenAsync(ct);
        var rows = await connection.QueryAsync<(long Id, string EventId, string? EndpointId, string Json, long Attempts, long Shuffled)>(
            SelectDue, new { nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });
        return rows.Select(r => new Due(r.Id, r.EventId, r.EndpointId, r.Json, r.Attempts, r.Shuffled != 0)).ToList();
    }

    private async Task DeliverAsync(Due delivery, CancellationToken ct)
    {
        var options = emulator.Options;
        string? url, secret = emulator.WebhookSecret, apiVersion = emulator.EventApiVersion;
        int? status = null;
        string? error = null;
        if (delivery.EndpointId is { } endpointId)
        {
            (url, secret, var endpointVersion, error) = await EndpointAsync(endpointId, ct);
            apiVersion = endpointVersion ?? apiVersion;
        }
        else
        {
            url = WebhookUrl();
            if (url is null)
                error = "No webhook URL: set Billing:Emulator:WebhookUrl, or WebhookPath and PublicBaseUrl.";
        }
        var json = RenderIn(delivery.Json, apiVersion);
        if (error is null)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url)
                {
                    Content = new StringContent(json, Encoding.UTF8, "application/json"),
                };
                request.Headers.TryAddWithoutValidation("Stripe-Signature", Sign(json, secret!, DateTimeOffset.UtcNow));
                request.Headers.UserAgent.ParseAdd("Stripe/1.0 (+https://stripe.com/docs/webhooks)");
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(options.DeliveryTimeoutSeconds));
                using var response = await httpClients.CreateClient(HttpClientName).SendAsync(request, timeout.Token);
                status = (int)response.StatusCode;
                if (!response.IsSuccessStatusCode) error = $"HTTP {status}";
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                error = ex.Message;
            }
        }

        var attempts = delivery.Attempts + 1;
        var delivered = error is null;
        var failedForGood = !delivered && (attempts >= options.MaxDeliveryAttempts || delivery.EndpointId is not null && url is null);
        var backoffMs = (long)Math.Min(options.RetryBaseDelayMilliseconds * Math.Pow(2, attempts - 1), TimeSpan.FromHours(1).TotalMilliseconds);
        await RecordAttemptAsync(delivery.Id, attempts, delivered ? "delivered" : failedForGood ? "failed" : "pending",
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + backoffMs, status, error, url, ct);
        if (delivered)
            LogDelivered(logger, delivery.EventId, url!, attempts);
        else
            LogFailed(logger, delivery.EventId, url ?? "(none)", attempts, error!, !failedForGood);
    }

    private const string UpdateDelivery = """
        UPDATE deliveries
        SET attempts = @attempts, status = @status, due_at_ms = @dueAtMs, last_status = @lastStatus, last_error = @lastError,
            last_url = @lastUrl, updated_at_ms = @nowMs
        WHERE id = @id;
        """;

    private async Task RecordAttemptAsync(long id, long attempts, string status, long dueAtMs, int? lastStatus, string? lastError, string? lastUrl, CancellationToken ct)
    {
        await using var connection = await emulator.Store.OpenAsync(ct);
        await connection.ExecuteAsync(UpdateDelivery, new { id, attempts, status, dueAtMs, lastStatus, lastError, lastUrl, nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });
    }

    private const string SelectEndpoint = "SELECT json, private FROM objects WHERE id = @id AND type = 'webhook_endpoint';";

    /// <summary>A registered endpoint's URL, secret and API version now; an error when it was deleted or disabled since.</summary>
    private async Task<(string? Url, string? Secret, string? ApiVersion, string? Error)> EndpointAsync(string endpointId, CancellationToken ct)
    {
        await using var connection = await emulator.Store.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<(string Json, string? Private)?>(SelectEndpoint, new { id = endpointId });
        if (row is not { } found)
            return (null, null, null, $"Webhook endpoint {endpointId} was deleted.");
        var endpoint = System.Text.Json.Nodes.JsonNode.Parse(found.Json)!.AsObject();
        if (endpoint["status"]?.GetValue<string>() != "enabled")
            return (null, null, null, $"Webhook endpoint {endpointId} is disabled.");
        var secret = found.Private is { } p ? System.Text.Json.Nodes.JsonNode.Parse(p)?["secret"]?.GetValue<string>() : null;
        return (endpoint["url"]!.GetValue<string>(), secret, endpoint["api_version"]?.GetValue<string>(), null);
    }

    /// <summary>The event as an endpoint of that API version receives it: Stripe renders each delivery in the endpoint's version.</summary>
    internal static string RenderIn(string eventJson, string apiVersion)
    {
        var evt = System.Text.Json.Nodes.JsonNode.Parse(eventJson)!.AsObject();
        if (evt["api_version"]?.GetValue<string>() == apiVersion) return eventJson;
        evt["api_version"] = apiVersion;
        return evt.ToJsonString();
    }

    /// <summary>Stripe's signature header: <c>t=unix,v1=hex(HMAC-SHA256(secret, "{t}.{payload}"))</c>.</summary>
    public static string Sign(string payload, string secret, DateTimeOffset at)
    {
        var timestamp = at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp}.{payload}"));
        return $"t={timestamp},v1={Convert.ToHexStringLower(mac)}";
    }

    /// <summary>The configured endpoint, else the host's webhook path at its public or listening address.</summary>
    private string? WebhookUrl()
    {
        var options = emulator.Options;
        if (!string.IsNullOrWhiteSpace(options.WebhookUrl)) return options.WebhookUrl;
        if (string.IsNullOrWhiteSpace(options.WebhookPath)) return null;
        var baseUrl = options.PublicBaseUrl;
        if (string.IsNullOrWhiteSpace(baseUrl))
        {
            var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
            if (address is null) return null;
            baseUrl = address.Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal)
                .Replace("://[::]", "://127.0.0.1", StringComparison.Ordinal)
                .Replace("://+", "://127.0.0.1", StringComparison.Ordinal)
                .Replace("://*", "://127.0.0.1", StringComparison.Ordinal);
        }
        return baseUrl.TrimEnd('/') + "/" + options.WebhookPath.TrimStart('/');
    }

    [LoggerMessage(EventId = 4701, Level = LogLevel.Information, Message = "Stripe emulator delivered {StripeEventId} to {WebhookUrl} on attempt {Attempt}")]
    private static partial void LogDelivered(ILogger logger, string stripeEventId, string webhookUrl, long attempt);

    [LoggerMessage(EventId = 4702, Level = LogLevel.Warning, Message = "Stripe emulator delivery of {StripeEventId} to {WebhookUrl} failed on attempt {Attempt}: {Error}; will retry: {WillRetry}")]
    private static partial void LogFailed(ILogger logger, string stripeEventId, string webhookUrl, long attempt, string error, bool willRetry);

    [LoggerMessage(EventId = 4703, Level = LogLevel.Error, Message = "Stripe emulator webhook loop failed; retrying")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);
}
