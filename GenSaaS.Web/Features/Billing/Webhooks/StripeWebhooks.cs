using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Features.Shared;
using Hangfire;
using Microsoft.AspNetCore.Http.Features;
using System.Text.Json;
using Stripe;

namespace GenSaaS.Web.Features.Billing.Webhooks;

/// <summary>
/// <c>POST /api/billing/webhook</c>: checks the signature over the raw body, applies the event unless it was already, stores it once by id
/// and answers 200. A failed apply is stored as <c>failed</c>; its first failure starts <see cref="StripeEventRetryJob"/>'s schedule.
/// </summary>
public sealed class StripeWebhooks(
    Db db,
    StripeGateway stripe,
    BillingModeInfo mode,
    Microsoft.Extensions.Options.IOptions<BillingOptions> options,
    StripeEventApplier applier,
    IBackgroundJobClient jobs,
    TimeProvider clock,
    AppMetrics metrics,
    ILogger<StripeWebhooks> logger)
{
    /// <summary>Stripe's events are a few kilobytes; anything near this is not from Stripe.</summary>
    public const int MaxBodyBytes = 1024 * 1024;

    private bool Enabled => mode.IsEnabled;

    /// <summary>
    /// Refuses what cannot be a Stripe delivery before reading its body (no well-formed <c>Stripe-Signature</c>: 400; a declared
    /// length over <see cref="MaxBodyBytes"/>: 413), then reads at most that much, so no request can make the server buffer more.
    /// </summary>
    public static async Task<IResult> HandleAsync(HttpContext http, StripeWebhooks webhooks, ILogger<StripeWebhooks> log, CancellationToken ct)
    {
        if (!webhooks.Enabled)
            return BillingDisabled();
        var request = http.Request;
        var signature = request.Headers["Stripe-Signature"].ToString();
        if (!IsWellFormedSignature(signature))
        {
            log.LogWarning(BillingLogEvents.WebhookRejected, "Stripe webhook rejected: no well-formed Stripe-Signature header");
            return Refuse(http, StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, "The webhook signature is not valid.",
                "A Stripe-Signature header of the form t=<timestamp>,v1=<signature> is required.");
        }
        if (request.ContentLength > MaxBodyBytes)
            return TooLarge(http);
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = MaxBodyBytes;

        var payload = await ReadBoundedAsync(request.Body, ct);
        if (payload is null)
            return TooLarge(http);
        return await webhooks.ReceiveAsync(payload, signature, ct);
    }

    private static IResult BillingDisabled() =>
        Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.BillingDisabled, "Billing is not configured on this server.");

    private static IResult TooLarge(HttpContext http) =>
        Refuse(http, StatusCodes.Status413PayloadTooLarge, ProblemCodes.BadRequest, "The webhook body is too large.",
            $"Stripe events are at most {MaxBodyBytes / 1024} KB here.");

    /// <summary>Answers and closes the connection, so the rest of an unwanted body is not even drained.</summary>
    private static IResult Refuse(HttpContext http, int status, string code, string title, string detail)
    {
        http.Response.Headers.Connection = "close";
        return Problems.Result(status, code, title, detail);
    }

    /// <summary>The body as text, or null when it is longer than <see cref="MaxBodyBytes"/> (reading stops there).</summary>
    private static async Task<string?> ReadBoundedAsync(Stream body, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + read > MaxBodyBytes)
                    return null;
                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return null;
        }
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>
    /// <c>t=&lt;unix seconds&gt;</c> and at least one <c>v1=&lt;64 hex&gt;</c> among comma-separated pairs, as Stripe sends it
    /// (more than one <c>v1</c> while a secret is rolled, and a <c>v0</c> in test mode). Checked before the body is read.
    /// </summary>
    public static bool IsWellFormedSignature(string header)
    {
        if (header.Length is 0 or > 2048)
            return false;
        bool timestamp = false, v1 = false;
        foreach (var part in header.Split(','))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
                return false;
            var key = part.AsSpan(0, equals).Trim();
            var value = part.AsSpan(equals + 1).Trim();
            if (key.SequenceEqual("t"))
            {
                if (value.Length is 0 or > 12 || value.IndexOfAnyExcept("0123456789") >= 0)
                    return false;
                timestamp = true;
            }
            else if (key.SequenceEqual("v1"))
            {
                if (value.Length != 64 || value.IndexOfAnyExcept("0123456789abcdefABCDEF") >= 0)
                    return false;
                v1 = true;
            }
        }
        return timestamp && v1;
    }

    public async Task<IResult> ReceiveAsync(string payload, string signature, CancellationToken ct)
    {
        if (!mode.IsEnabled)
            return BillingDisabled();

        if (SignatureProblem(payload, signature) is { } refused)
        {
            logger.LogWarning(BillingLogEvents.WebhookRejected, "Stripe webhook rejected: {Reason}", refused.Message);
            metrics.WebhookEvents.WithLabels("unknown", "rejected").Inc();
            return Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, "The webhook signature is not valid.", refused.Message);
        }

        if (NotAnEvent(payload) is { } reason)
        {
            // Signed with our secret, so kept where an operator sees it; answered 2xx because sending it again cannot help.
            await StoreNotAnEventAsync(payload, reason, ct);
            return Results.Ok(new { received = true, applied = false });
        }

        // A duplicate delivery is answered before the (costly) typed parse; Stripe retries and duplicates are common.
        if (TopLevelId(payload) is { } knownId && await StatusAsync(knownId, ct) is "applied" or "ignored")
        {
            metrics.WebhookEvents.WithLabels("unknown", "duplicate").Inc();
            return Results.Ok(new { received = true, duplicate = true });
        }

        Event stripeEvent;
        try
        {
            stripeEvent = await ReadEventAsync(payload, ct);
        }
        catch (StripeRefetchFailedException ex)
        {
            // Stripe retries a 5xx with back-off (for up to 3 days live): nothing is stored, so the retry applies it afresh.
            logger.LogWarning(BillingLogEvents.WebhookFailed, ex.InnerException, "Stripe event {StripeEventId} is in API version {ApiVersion}; re-fetching its object failed, answered 503 for Stripe to retry",
                ex.EventId, ex.ApiVersion);
            return Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.StripeUnavailable, "Stripe could not be reached to read this event.",
                "The event is in another API version and its object could not be fetched from Stripe; send it again later.");
        }
        catch (Exception ex) when (ex is StripeException or JsonException or Newtonsoft.Json.JsonException or FormatException)
        {
            // Signed by Stripe but not readable by this Stripe.net (a shape it cannot parse):
            // keep it for the admins rather than lose it, and do not make Stripe retry something that cannot succeed.
            await StoreUnreadableAsync(payload, ex, ct);
            return Results.Ok(new { received = true, applied = false });
        }

        var (applied, attempts, _, _) = await ApplyAndRecordAsync(stripeEvent, payload, ct);
        // Only the first failure starts the schedule: Stripe's own redeliveries of a failing event must not start more of them.
        if (!applied && attempts == 1)
            StripeEventRetryJob.Schedule(jobs, stripeEvent.Id, retry: 0);
        return Results.Ok(new { received = true });
    }

    /// <summary>
    /// The event as Stripe.net reads it. One rendered in the API version Stripe.net pins is parsed as it is. One in another
    /// version (Stripe renders each event in its endpoint's version) may have another shape, so for the types the app acts on
    /// its object is fetched from Stripe by id at the pinned version and put in its place; the event's own id, type and
    /// time are kept, so idempotency and ordering work as for any event. Throws <see cref="StripeRefetchFailedException"/>
    /// when that fetch fails.
    /// </summary>
    private async Task<Event> ReadEventAsync(string payload, CancellationToken ct)
    {
        string? apiVersion, id, type, objectType, objectId;
        long created;
        bool livemode;
        using (var document = JsonDocument.Parse(payload))
        {
            var root = document.RootElement;
            apiVersion = root.TryGetProperty("api_version", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            if (apiVersion == StripeConfiguration.ApiVersion)
                return EventUtility.ParseEvent(payload, throwOnApiVersionMismatch: true);
            id = root.GetProperty("id").GetString();
            type = root.GetProperty("type").GetString();
            created = root.TryGetProperty("created", out var c) && c.TryGetInt64(out var n) ? n : 0;
            livemode = root.TryGetProperty("livemode", out var l) && l.ValueKind == JsonValueKind.True;
            var obj = root.GetProperty("data").GetProperty("object");
            objectType = obj.TryGetProperty("object", out var o) && o.ValueKind == JsonValueKind.String ? o.GetString() : null;
            objectId = obj.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString() : null;
        }

        var stripeEvent = new Event
        {
            Id = id!,
            Object = "event",
            Type = type!,
            ApiVersion = apiVersion,
            Created = DateTimeOffset.FromUnixTimeSeconds(created).UtcDateTime,
            Livemode = livemode,
            Data = new EventData(),
        };
        if (!StripeEventApplier.HandledEvents.Contains(type))
            return stripeEvent;
        if (objectType is null || objectId is null)
            throw new FormatException($"Event {id} ({type}) in API version {apiVersion} names no object to fetch.");

        IHasObject? fresh;
        try
        {
            fresh = await stripe.GetObjectAsync(objectType, objectId, ct);
        }
        catch (Exception ex) when (ex is StripeException or HttpRequestException or TimeoutException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw new StripeRefetchFailedException(id!, apiVersion, ex);
        }
        stripeEvent.Data.Object = fresh ?? throw new FormatException($"Event {id} ({type}) is about a {objectType}, which this app cannot fetch.");
        logger.LogInformation(BillingLogEvents.WebhookApplied, "Stripe event {StripeEventId} ({StripeEventType}) is in API version {ApiVersion}; its {ObjectType} {ObjectId} was re-fetched at {PinnedVersion}",
            id, type, apiVersion, objectType, objectId, StripeConfiguration.ApiVersion);
        return stripeEvent;
    }

    /// <summary>Null when the signature is good with one of the secrets the app knows (configured, emulator's, stored by <c>stripe sync</c>).</summary>
    private StripeException? SignatureProblem(string payload, string signature)
    {
        StripeException? first = null;
        var secrets = stripe.WebhookSecrets;
        if (secrets.Count == 0)
            return new StripeException("No webhook signing secret is configured or stored.");
        foreach (var secret in secrets)
        {
            try
            {
                EventUtility.ValidateSignature(payload, signature, secret, options.Value.WebhookToleranceSeconds);
                return null;
            }
            catch (StripeException ex)
            {
                first ??= ex;
            }
        }
        return first;
    }

    /// <summary>The event's own <c>id</c> (the top-level one, not those of the objects inside), or null if there is none.</summary>
    public static string? TopLevelId(string payload)
    {
        try
        {
            var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(payload));
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("id"u8))
                    return reader.Read() && reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && reader.CurrentDepth >= 1)
                    reader.Skip();
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }

    private const string StatusSql = """
        SELECT status FROM stripe_events WHERE id = @id;
        """;

    private async Task<string?> StatusAsync(string eventId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(StatusSql, new { id = eventId }, cancellationToken: ct));
    }

    /// <summary>
    /// Why a signed body is not a Stripe event at all, or null when it has the shape of one: a JSON object with a string
    /// <c>id</c> and <c>type</c> and a <c>data.object</c>.
    /// </summary>
    public static string? NotAnEvent(string payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return $"the body is a JSON {root.ValueKind.ToString().ToLowerInvariant()}, not an event object";
            if (!root.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String || id.GetString() is not { Length: > 0 })
                return "the body has no string id";
            if (!root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() is not { Length: > 0 })
                return "the body has no string type";
            if (!root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Object
                || !data.TryGetProperty("object", out var obj) || obj.ValueKind != JsonValueKind.Object)
                return "the body has no data.object";
            return null;
        }
        catch (JsonException ex)
        {
            return "the body is not JSON: " + ex.Message;
        }
    }

    /// <summary>The id a signed non-event is kept under: the same body (a replay) always lands on the same row.</summary>
    public static string UnreadableId(string payload) =>
        "unreadable_" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(payload)))[..32];

    private async Task StoreNotAnEventAsync(string payload, string reason, CancellationToken ct)
    {
        var id = UnreadableId(payload);
        logger.LogError(BillingLogEvents.WebhookFailed, "Signed Stripe webhook is not an event ({Reason}); kept as {StripeEventId}", reason, id);
        await db.ExecuteAsync(StoreUnreadableSql, new { id, type = "", created = 0L, payload, error = "Not a Stripe event: " + reason, now = clock.GetUtcNow().UtcDateTime }, ct);
    }

    private const string StoreUnreadableSql = """
        INSERT INTO stripe_events (id, type, object_id, created, payload, status, attempts, last_error, received_at)
        VALUES (@id, @type, NULL, @created, @payload, 'failed', 1, @error, @now)
        ON CONFLICT (id) DO NOTHING;
        """;

    private async Task StoreUnreadableAsync(string payload, Exception error, CancellationToken ct)
    {
        string id, type;
        long created;
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            id = root.GetProperty("id").GetString() ?? throw new JsonException("no id");
            type = root.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
            created = root.TryGetProperty("created", out var c) && c.TryGetInt64(out var n) ? n : 0;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            logger.LogError(BillingLogEvents.WebhookFailed, error, "Signed Stripe webhook is not an event at all; dropped");
            return;
        }
        logger.LogError(BillingLogEvents.WebhookFailed, error, "Stripe event {StripeEventId} ({StripeEventType}) cannot be read by Stripe.net", id, type);
        await db.ExecuteAsync(StoreUnreadableSql, new { id, type, created, payload, error = error.Message, now = clock.GetUtcNow().UtcDateTime }, ct);
    }

    private const string RecordSql = """
        INSERT INTO stripe_events (id, type, object_id, created, payload, status, attempts, last_error, received_at, applied_at)
        VALUES (@id, @type, @objectId, @created, @payload, @status, 1, @error, @now, CASE WHEN @status IN ('applied', 'ignored') THEN @now END)
        ON CONFLICT (id) DO UPDATE SET
            status = excluded.status,
            attempts = stripe_events.attempts + 1,
            last_error = excluded.last_error,
            applied_at = coalesce(excluded.applied_at, stripe_events.applied_at)
        WHERE stripe_events.status <> 'applied'
        RETURNING attempts;
        """;

    /// <summary>
    /// Applies the event and stores it, once by id, with how that went. Storing after applying keeps one write per
    /// delivery: a crash in between leaves the event unanswered, so Stripe sends it again, and the handlers are idempotent.
    /// Returns whether it applied (or was of a type this app ignores), how many attempts the event has had, the status stored
    /// and the error when it failed.
    /// </summary>
    private async Task<(bool Applied, int Attempts, string Status, string? Error)> ApplyAndRecordAsync(Event stripeEvent, string payload, CancellationToken ct)
    {
        string status;
        string? error = null;
        try
        {
            status = await applier.ApplyAsync(stripeEvent, ct) ? "applied" : "ignored";
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            status = "failed";
            error = ex is WebhookNotReadyException or StripeException ? ex.Message : ex.ToString();
            logger.LogWarning(BillingLogEvents.WebhookFailed, ex, "Stripe event {StripeEventId} ({StripeEventType}) failed to apply", stripeEvent.Id, stripeEvent.Type);
        }

        var attempts = await db.ExecuteScalarAsync<int>(RecordSql, new
            {
                id = stripeEvent.Id,
                type = stripeEvent.Type,
                objectId = (stripeEvent.Data.Object as IHasId)?.Id,
                created = new DateTimeOffset(stripeEvent.Created, TimeSpan.Zero).ToUnixTimeSeconds(),
                payload,
                status,
                error,
                now = clock.GetUtcNow().UtcDateTime,
            }, CancellationToken.None);

        metrics.WebhookEvents.WithLabels(stripeEvent.Type, status).Inc();
        if (status == "failed")
            return (false, attempts, status, error);
        logger.LogDebug(BillingLogEvents.WebhookApplied, "Stripe event {StripeEventId} ({StripeEventType}) {Status}", stripeEvent.Id, stripeEvent.Type, status);
        return (true, attempts, status, null);
    }

    /// <summary>
    /// Applies an event read from Stripe's event list that this app never stored (its webhook did not arrive), through the
    /// same steps as a delivery: read (re-fetched when in another API version), applied, stored once by id, a failure put on
    /// the retry schedule. False when the event is already stored (applied, ignored, or on its own retry schedule).
    /// </summary>
    public async Task<bool> ApplyMissedAsync(Event listed, CancellationToken ct)
    {
        if (await StatusAsync(listed.Id, ct) is not null)
            return false;
        var payload = RawJson(listed);
        Event stripeEvent;
        try
        {
            stripeEvent = await ReadEventAsync(payload, ct);
        }
        catch (Exception ex) when (ex is StripeException or JsonException or Newtonsoft.Json.JsonException or FormatException)
        {
            await StoreUnreadableAsync(payload, ex, ct);
            return true;
        }
        var (applied, attempts, _, _) = await ApplyAndRecordAsync(stripeEvent, payload, ct);
        if (!applied && attempts == 1)
            StripeEventRetryJob.Schedule(jobs, stripeEvent.Id, retry: 0);
        return true;
    }

    /// <summary>The event as Stripe sent it when Stripe.net kept the raw JSON, else Stripe.net's serialization of it.</summary>
    private static string RawJson(Event listed)
    {
        try
        {
            if (listed.RawJsonElement is { ValueKind: JsonValueKind.Object } raw)
                return raw.GetRawText();
        }
        catch (InvalidOperationException)
        {
        }
        return listed.ToJson();
    }

    private const string LoadSql = """
        SELECT payload FROM stripe_events WHERE id = @id AND status <> 'applied';
        """;

    /// <summary>Applies a stored event again (the retry job, or an admin's replay). Null when it is unknown or already applied; false when it still fails.</summary>
    public async Task<bool?> ReplayAsync(string eventId, CancellationToken ct) =>
        (await ReplayStoredAsync(eventId, ct)).Status switch
        {
            ReplayResult.NotReplayed => null,
            "failed" => false,
            _ => true,
        };

    /// <summary>
    /// What replaying a stored event came to. <see cref="Status"/>: <c>applied</c> or <c>ignored</c> (as stored), <c>failed</c>
    /// (with <see cref="Error"/>), or <see cref="NotReplayed"/> (unknown, or applied already). <see cref="Changed"/> and
    /// <see cref="Unchanged"/> are the applier's own notes of what it wrote and what it found already so.
    /// </summary>
    public sealed record ReplayResult(string Status, string? Error, IReadOnlyList<string> Changed, IReadOnlyList<string> Unchanged)
    {
        public const string NotReplayed = "not_replayed";
    }

    /// <summary>An admin's replay: <see cref="ReplayAsync"/> with the applier's notes of what it changed.</summary>
    public async Task<ReplayResult> ReplayReportingAsync(string eventId, CancellationToken ct)
    {
        using var scope = StripeApplyReport.Begin(out var report);
        var (status, error) = await ReplayStoredAsync(eventId, ct);
        return new ReplayResult(status, error, report.Changed.ToList(), report.Unchanged.ToList());
    }

    private async Task<(string Status, string? Error)> ReplayStoredAsync(string eventId, CancellationToken ct)
    {
        string? payload;
        await using (var connection = await db.OpenAsync(ct))
            payload = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(LoadSql, new { id = eventId }, cancellationToken: ct));
        if (payload is null)
            return (ReplayResult.NotReplayed, null);
        if (NotAnEvent(payload) is { } notAnEvent)
            return ("failed", "Not a Stripe event: " + notAnEvent);
        Event stripeEvent;
        try
        {
            stripeEvent = await ReadEventAsync(payload, ct);
        }
        catch (StripeRefetchFailedException ex)
        {
            logger.LogWarning(BillingLogEvents.WebhookFailed, ex.InnerException, "Stored Stripe event {StripeEventId}: re-fetching its object failed again", eventId);
            return ("failed", ex.Message);
        }
        catch (Exception ex) when (ex is StripeException or JsonException or Newtonsoft.Json.JsonException or FormatException)
        {
            logger.LogWarning(BillingLogEvents.WebhookFailed, ex, "Stored Stripe event {StripeEventId} still cannot be read", eventId);
            return ("failed", "Stripe.net cannot read it: " + ex.Message);
        }
        var (_, _, status, error) = await ApplyAndRecordAsync(stripeEvent, payload, ct);
        return (status, error);
    }
}

/// <summary>The object of an event in another API version could not be fetched from Stripe (network, timeout, 429, 5xx...).</summary>
public sealed class StripeRefetchFailedException(string eventId, string? apiVersion, Exception inner)
    : Exception($"Re-fetching the object of Stripe event {eventId} (API version {apiVersion}) failed: {inner.Message}", inner)
{
    public string EventId { get; } = eventId;
    public string? ApiVersion { get; } = apiVersion;
}

/// <summary>
/// Retries a stored Stripe event that failed to apply, on <see cref="DelaysSeconds"/>: each run that still fails schedules
/// the next, and after the last the event stays <c>failed</c> on /admin/billing/events for an admin to replay (Stripe's own
/// redeliveries go on meanwhile, for up to 3 days in live mode).
/// </summary>
/// <remarks>
/// This job owns the schedule, not Hangfire's <see cref="AutomaticRetryAttribute"/> (set to 0 attempts): an event that still
/// fails is an expected outcome, already recorded on its row, not an exception; the job's argument says which retry it is,
/// so the schedule is exact whatever Stripe's redeliveries add to <c>stripe_events.attempts</c>; and the first delay is
/// taken by the webhook endpoint from the same table. A run that throws (the database unreachable) fails on the Hangfire
/// dashboard instead of starting a second, different schedule. No <c>DisableConcurrentExecution</c>: its lock is one per
/// method, not per event, so one slow event would make the others' runs time out and, with no Hangfire retry, end their schedule;
/// one schedule per event already keeps its runs apart, and applying is idempotent.
/// </remarks>
public sealed class StripeEventRetryJob(StripeWebhooks webhooks, IBackgroundJobClient jobs, ILogger<StripeEventRetryJob> logger)
{
    /// <summary>Seconds before each retry of a failed event: 2 s after the failed delivery, then 10 s, 1 min, 5 min, 30 min, 1 h, 4 h and 12 h after the previous try.</summary>
    public static readonly IReadOnlyList<int> DelaysSeconds = [2, 10, 60, 300, 1800, 3600, 14400, 43200];

    /// <summary>Schedules retry number <paramref name="retry"/> (0-based) of the event; false when the schedule has no more.</summary>
    public static bool Schedule(IBackgroundJobClient jobs, string stripeEventId, int retry)
    {
        if (retry < 0 || retry >= DelaysSeconds.Count)
            return false;
        jobs.Schedule<StripeEventRetryJob>(job => job.RunAsync(stripeEventId, retry, CancellationToken.None), TimeSpan.FromSeconds(DelaysSeconds[retry]));
        return true;
    }

    [AutomaticRetry(Attempts = 0)]
    public async Task RunAsync(string stripeEventId, int retry, CancellationToken ct)
    {
        var applied = await webhooks.ReplayAsync(stripeEventId, ct);
        if (applied is null)
        {
            logger.LogDebug("Stripe event {StripeEventId} needs no retry", stripeEventId);
            return;
        }
        if (applied == true)
            return;
        if (Schedule(jobs, stripeEventId, retry + 1))
            logger.LogWarning(BillingLogEvents.WebhookFailed, "Stripe event {StripeEventId} still fails to apply after retry {Retry}; next in {DelaySeconds} s",
                stripeEventId, retry + 1, DelaysSeconds[retry + 1]);
        else
            logger.LogError(BillingLogEvents.WebhookFailed, "Stripe event {StripeEventId} still fails to apply after {Retries} retries; no more are scheduled, replay it from /admin/billing/events",
                stripeEventId, retry + 1);
    }
}
