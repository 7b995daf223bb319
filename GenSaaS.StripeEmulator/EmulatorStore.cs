using System.Text.Json.Nodes;
using Dapper;
using Microsoft.Data.Sqlite;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// The emulator's own SQLite file: Stripe objects as JSON with the columns lists filter on, the event log,
/// pending webhook deliveries, idempotency records and a few settings (clock offset, webhook secret).
/// </summary>
internal sealed class EmulatorStore : IDisposable
{
    // No write queue and no checkpoint thread: the emulator is no hot path. Its writes take turns in EmulatedStripe.WriteAsync
    // (one BEGIN IMMEDIATE transaction at a time) and SQLite checkpoints the log itself on commit.
    // synchronous=NORMAL in WAL mode survives a crash of the process; a power loss may drop the last emulated calls, which is fine for test money.
    private const string ConnectionPragmas = """
        PRAGMA busy_timeout = 5000;
        PRAGMA synchronous = NORMAL;
        PRAGMA foreign_keys = ON;
        """;

    public EmulatorStore(string file)
    {
        ConnectionString = new SqliteConnectionStringBuilder { DataSource = file, Pooling = true, DefaultTimeout = 30 }.ToString();
        CreateSchema();
    }

    public string ConnectionString { get; }

    public bool IsDisposed { get; private set; }

    /// <summary>A connection with the emulator's pragmas (busy timeout, foreign keys); the caller disposes it.</summary>
    public async Task<SqliteConnection> OpenAsync(CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        var connection = new SqliteConnection(ConnectionString);
        try
        {
            await connection.OpenAsync(ct);
            await connection.ExecuteAsync(ConnectionPragmas);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Closes the pooled connections to the file, so nothing of the emulator stays open once its app has stopped.</summary>
    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        using var connection = new SqliteConnection(ConnectionString);
        SqliteConnection.ClearPool(connection);
    }

    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS objects (
            id          TEXT PRIMARY KEY,
            type        TEXT NOT NULL,
            customer    TEXT,
            parent      TEXT,
            lookup_key  TEXT UNIQUE,
            created     INTEGER NOT NULL,
            json        TEXT NOT NULL,
            private     TEXT
        );
        CREATE INDEX IF NOT EXISTS objects_type_created ON objects (type, created DESC, id DESC);
        CREATE INDEX IF NOT EXISTS objects_customer ON objects (customer, type);
        CREATE INDEX IF NOT EXISTS objects_parent ON objects (parent, type);
        CREATE TABLE IF NOT EXISTS events (
            seq         INTEGER PRIMARY KEY AUTOINCREMENT,
            id          TEXT NOT NULL UNIQUE,
            type        TEXT NOT NULL,
            created     INTEGER NOT NULL,
            json        TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS events_type ON events (type, seq);
        CREATE TABLE IF NOT EXISTS deliveries (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id    TEXT NOT NULL REFERENCES events (id),
            endpoint_id TEXT,
            due_at_ms   INTEGER NOT NULL,
            shuffled    INTEGER NOT NULL DEFAULT 0,
            attempts    INTEGER NOT NULL DEFAULT 0,
            status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
            last_status INTEGER,
            last_error  TEXT,
            last_url    TEXT,
            updated_at_ms INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, due_at_ms);
        CREATE TABLE IF NOT EXISTS idempotency (
            key         TEXT PRIMARY KEY,
            method_path TEXT NOT NULL,
            params_hash TEXT NOT NULL,
            status      INTEGER NOT NULL,
            body        TEXT NOT NULL,
            created     INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS settings (
            name        TEXT PRIMARY KEY,
            value       TEXT NOT NULL
        );
        """;

    /// <summary>For the few start-up reads and writes that happen before anything async can run.</summary>
    private SqliteConnection OpenAtStartup()
    {
        var connection = new SqliteConnection(ConnectionString);
        connection.Open();
        connection.Execute(ConnectionPragmas);
        return connection;
    }

    private void CreateSchema()
    {
        using var connection = OpenAtStartup();
        connection.Execute(Schema);
        // Files made before deliveries went to registered endpoints: NULL is the configured endpoint.
        if (connection.ExecuteScalar<long>("SELECT count(*) FROM pragma_table_info('deliveries') WHERE name = 'endpoint_id';") == 0)
            connection.Execute("ALTER TABLE deliveries ADD COLUMN endpoint_id TEXT;");
    }

    private const string SelectSetting = "SELECT value FROM settings WHERE name = @name;";

    public string? GetSetting(string name)
    {
        using var connection = OpenAtStartup();
        return connection.QuerySingleOrDefault<string>(SelectSetting, new { name });
    }

    private const string InsertSettingIfMissing = """
        INSERT INTO settings (name, value) VALUES (@name, @value) ON CONFLICT (name) DO NOTHING;
        SELECT value FROM settings WHERE name = @name;
        """;

    /// <summary>Stores the value unless one is already there, and returns whichever is stored.</summary>
    public string GetOrAddSetting(string name, string value)
    {
        using var connection = OpenAtStartup();
        return connection.QuerySingle<string>(InsertSettingIfMissing, new { name, value });
    }
}

/// <summary>One write transaction of the emulator: reads, writes and the events they cause commit together.</summary>
internal sealed class EmulatorTx(SqliteConnection connection, SqliteTransaction transaction, EmulatedStripe emulator, long now, RequestInfo? request)
{
    public long Now { get; } = now;

    public RequestInfo? Request { get; } = request;

    public EmulatedStripe Emulator { get; } = emulator;

    /// <summary>A card error to answer once this transaction has committed: Stripe keeps the failed attempt and still answers 402.</summary>
    public StripeApiException? DeferredError { get; set; }

    /// <summary>The card the customer has just passed 3-D Secure for on a hosted page in this step; on-session payments with it need no more.</summary>
    public string? AuthenticatedPaymentMethod { get; set; }

    public SqliteConnection Connection => connection;

    public SqliteTransaction Transaction => transaction;

    private const string SelectObject = "SELECT json FROM objects WHERE id = @id;";

    public async Task<JsonObject?> FindAsync(string? id, string? type = null)
    {
        if (string.IsNullOrEmpty(id)) return null;
        var json = await connection.QuerySingleOrDefaultAsync<string>(SelectObject, new { id }, transaction);
        var obj = json is null ? null : JsonNode.Parse(json)!.AsObject();
        return type is null || obj?["object"]?.GetValue<string>() == type ? obj : null;
    }

    public async Task<JsonObject> GetAsync(string? id, string type, string param = "id") =>
        await FindAsync(id, type) ?? throw StripeApiException.Missing(type, id, param);

    private const string SelectPrivate = "SELECT private FROM objects WHERE id = @id;";

    public async Task<JsonObject?> PrivateAsync(string id)
    {
        var json = await connection.QuerySingleOrDefaultAsync<string>(SelectPrivate, new { id }, transaction);
        return json is null ? null : JsonNode.Parse(json)!.AsObject();
    }

    private const string UpsertObject = """
        INSERT INTO objects (id, type, customer, parent, lookup_key, created, json, private)
        VALUES (@id, @type, @customer, @parent, @lookupKey, @created, @json, @privateJson)
        ON CONFLICT (id) DO UPDATE SET customer = excluded.customer, parent = excluded.parent, lookup_key = excluded.lookup_key,
            json = excluded.json, private = COALESCE(excluded.private, objects.private);
        """;

    /// <summary>Saves the object; <paramref name="parent"/> is what it is listed under (a payment intent's charges, a charge's refunds).</summary>
    public Task PutAsync(JsonObject obj, string? parent = null, JsonObject? privateData = null)
    {
        var customer = obj["customer"] is JsonValue v && v.TryGetValue<string>(out var c) ? c : null;
        if (obj["object"]!.GetValue<string>() == "customer") customer = obj["id"]!.GetValue<string>();
        var lookupKey = obj["object"]!.GetValue<string>() == "price" ? obj["lookup_key"]?.GetValue<string>() : null;
        return connection.ExecuteAsync(UpsertObject, new
        {
            id = obj["id"]!.GetValue<string>(),
            type = obj["object"]!.GetValue<string>(),
            customer,
            parent,
            lookupKey,
            created = obj["created"]!.GetValue<long>(),
            json = obj.ToJsonString(),
            privateJson = privateData?.ToJsonString(),
        }, transaction);
    }

    private const string DeleteObject = "DELETE FROM objects WHERE id = @id;";

    public Task DeleteAsync(string id) => connection.ExecuteAsync(DeleteObject, new { id }, transaction);

    private const string SelectByType = """
        SELECT json FROM objects
        WHERE type = @type AND (@customer IS NULL OR customer = @customer) AND (@parent IS NULL OR parent = @parent)
        ORDER BY created DESC, rowid DESC;
        """;

    public async Task<List<JsonObject>> ListAsync(string type, string? customer = null, string? parent = null) =>
        (await connection.QueryAsync<string>(SelectByType, new { type, customer, parent }, transaction))
            .Select(j => JsonNode.Parse(j)!.AsObject()).ToList();

    private const string SelectPriceByLookupKey = "SELECT json FROM objects WHERE lookup_key = @lookupKey;";

    public async Task<JsonObject?> FindPriceByLookupKeyAsync(string lookupKey)
    {
        var json = await connection.QuerySingleOrDefaultAsync<string>(SelectPriceByLookupKey, new { lookupKey }, transaction);
        return json is null ? null : JsonNode.Parse(json)!.AsObject();
    }

    private const string InsertEvent = "INSERT INTO events (id, type, created, json) VALUES (@id, @type, @created, @json);";
    private const string InsertDelivery = """
        INSERT INTO deliveries (event_id, endpoint_id, due_at_ms, shuffled, updated_at_ms) VALUES (@eventId, @endpointId, @dueAtMs, @shuffled, @nowMs);
        """;

    private const string InsertDroppedDelivery = """
        INSERT INTO deliveries (event_id, endpoint_id, due_at_ms, status, last_error, updated_at_ms)
        VALUES (@eventId, @endpointId, @nowMs, 'failed', 'Dropped by the Drop delivery fault', @nowMs);
        """;

    /// <summary>
    /// Records the event Stripe would send for this change and queues its webhook deliveries: one to each registered endpoint
    /// that wants its type, or, while none is registered, one to the configured endpoint.
    /// </summary>
    public async Task<JsonObject> EmitAsync(string type, JsonObject obj, JsonObject? before = null)
    {
        var data = new JsonObject { ["object"] = obj.DeepClone() };
        // Stripe sends previous_attributes on *.updated events only, with the fields that changed.
        if (before is not null && type.EndsWith(".updated", StringComparison.Ordinal))
            data["previous_attributes"] = PreviousAttributes(before, obj);
        var evt = StripeShapes.Event(Ids.New("evt_"), type, Now, Emulator.ApiVersion, data, Request?.RequestId, Request?.IdempotencyKey);
        await connection.ExecuteAsync(InsertEvent, new { id = evt["id"]!.GetValue<string>(), type, created = Now, json = evt.ToJsonString() }, transaction);

        var faults = Emulator.Faults;
        var nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var dueAtMs = nowMs
            + (faults.HasFlag(DeliveryFaults.Delay) ? (long)Emulator.Options.FaultDelaySeconds * 1000 : 0)
            + (faults.HasFlag(DeliveryFaults.Shuffle) ? Emulator.Options.ShuffleWindowMilliseconds : 0);
        var copies = faults.HasFlag(DeliveryFaults.Duplicate) ? 2 : 1;
        var endpoints = await ListAsync("webhook_endpoint");
        var targets = endpoints.Count == 0
            ? new List<string?> { null }
            : endpoints.Where(e => EmulatedStripe.Wants(e, type)).Select(e => (string?)e["id"]!.GetValue<string>()).Reverse().ToList();
        foreach (var endpointId in targets)
        {
            if (faults.HasFlag(DeliveryFaults.Drop))
            {
                // Recorded as given up, never sent: the app can only learn of it by listing events.
                await connection.ExecuteAsync(InsertDroppedDelivery, new { eventId = evt["id"]!.GetValue<string>(), endpointId, nowMs }, transaction);
                continue;
            }
            for (var i = 0; i < copies; i++)
                await connection.ExecuteAsync(InsertDelivery, new { eventId = evt["id"]!.GetValue<string>(), endpointId, dueAtMs, shuffled = faults.HasFlag(DeliveryFaults.Shuffle) ? 1 : 0, nowMs }, transaction);
        }
        return evt;
    }

    /// <summary>The old values of the top-level fields that changed, as Stripe puts them in <c>data.previous_attributes</c>.</summary>
    private static JsonObject PreviousAttributes(JsonObject before, JsonObject after)
    {
        var previous = new JsonObject();
        foreach (var (key, oldValue) in before)
            if (!JsonNode.DeepEquals(oldValue, after[key]))
                previous[key] = oldValue?.DeepClone();
        return previous;
    }

    private const string SelectIdempotency = "SELECT method_path AS MethodPath, params_hash AS ParamsHash, status AS Status, body AS Body FROM idempotency WHERE key = @key;";

    public Task<IdempotencyRecord?> FindIdempotencyAsync(string key) =>
        connection.QuerySingleOrDefaultAsync<IdempotencyRecord>(SelectIdempotency, new { key }, transaction);

    private const string InsertIdempotency = """
        INSERT INTO idempotency (key, method_path, params_hash, status, body, created)
        VALUES (@key, @methodPath, @paramsHash, @status, @body, @created);
        """;

    public Task SaveIdempotencyAsync(string key, string methodPath, string paramsHash, int status, string body) =>
        connection.ExecuteAsync(InsertIdempotency, new { key, methodPath, paramsHash, status, body, created = Now }, transaction);

    private const string UpsertSetting = "INSERT INTO settings (name, value) VALUES (@name, @value) ON CONFLICT (name) DO UPDATE SET value = excluded.value;";

    public Task SetSettingAsync(string name, string value) => connection.ExecuteAsync(UpsertSetting, new { name, value }, transaction);

    private const string SelectSettingInTx = "SELECT value FROM settings WHERE name = @name;";

    public Task<string?> GetSettingAsync(string name) => connection.QuerySingleOrDefaultAsync<string>(SelectSettingInTx, new { name }, transaction);

    private const string DeleteSetting = "DELETE FROM settings WHERE name = @name;";

    public Task RemoveSettingAsync(string name) => connection.ExecuteAsync(DeleteSetting, new { name }, transaction);
}

internal sealed record IdempotencyRecord(string MethodPath, string ParamsHash, long Status, string Body);

/// <summary>Who asked for a change, for the <c>request</c> field of the events it causes.</summary>
internal sealed record RequestInfo(string RequestId, string? IdempotencyKey);
