using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// The emulated Stripe account: its objects, clock, webhook secret and delivery faults. All changes go through
/// <see cref="WriteAsync{T}"/>, one at a time, so each API call is one consistent step as it is at Stripe.
/// </summary>
public sealed partial class EmulatedStripe
{
    private const string ClockOffsetSetting = "clock_offset_seconds";
    private const string WebhookSecretSetting = "webhook_secret";
    private const string SecretKeySetting = "secret_key";
    private const string FaultsSetting = "faults";
    private const string EventApiVersionSetting = "event_api_version";

    /// <summary>Stripe's API versions: a date, and since 2024-09-30 a release train (<c>2025-03-31.basil</c>).</summary>
    public const string ApiVersionPattern = @"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$";

    public static bool IsApiVersion(string candidate) =>
        System.Text.RegularExpressions.Regex.IsMatch(candidate, ApiVersionPattern, System.Text.RegularExpressions.RegexOptions.None, TimeSpan.FromSeconds(1));

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ILogger<EmulatedStripe> _logger;
    private long _clockOffsetSeconds;
    // -1 when the configured faults apply; an int so the delivery loop reads it without tearing.
    private int _faultsOverride = -1;

    internal EmulatedStripe(EmulatorStore store, IOptions<EmulatorOptions> options, ILogger<EmulatedStripe> logger)
    {
        Store = store;
        Options = options.Value;
        _logger = logger;
        (SecretKey, WebhookSecret) = ResolveKeys(store, Options);
        _secretKeyHash = SHA256.HashData(Encoding.UTF8.GetBytes(SecretKey));
        _clockOffsetSeconds = long.Parse(store.GetSetting(ClockOffsetSetting) ?? "0", CultureInfo.InvariantCulture);
        _faultsOverride = store.GetSetting(FaultsSetting) is { } f ? (int)Enum.Parse<DeliveryFaults>(f) : -1;
        _eventApiVersionOverride = store.GetSetting(EventApiVersionSetting);
    }

    /// <summary>
    /// The configured keys, else those kept in the emulator's database (generated on first start), so every process sharing
    /// the file (the app, its CLI) uses the same ones.
    /// </summary>
    internal static (string SecretKey, string WebhookSecret) ResolveKeys(EmulatorStore store, EmulatorOptions options)
    {
        var secretKey = string.IsNullOrWhiteSpace(options.SecretKey)
            ? store.GetOrAddSetting(SecretKeySetting, "sk_test_" + Ids.Random(48))
            : options.SecretKey.Trim();
        var webhookSecret = string.IsNullOrWhiteSpace(options.WebhookSecret)
            ? store.GetOrAddSetting(WebhookSecretSetting, "whsec_" + Ids.Random(32))
            : options.WebhookSecret.Trim();
        return (secretKey, webhookSecret);
    }

    internal EmulatorStore Store { get; }

    internal EmulatorOptions Options { get; }

    /// <summary>The signing secret of the emulated webhook endpoint; the app verifies <c>Stripe-Signature</c> with it.</summary>
    public string WebhookSecret { get; }

    /// <summary>The only key the emulated API accepts (see <see cref="ResolveKeys"/>).</summary>
    public string SecretKey { get; }

    private readonly byte[] _secretKeyHash;

    /// <summary>True only for this emulator's secret key; compared in constant time over hashes, so neither length nor prefix leaks.</summary>
    public bool IsSecretKey(string candidate) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(candidate)), _secretKeyHash);

    /// <summary>One call to the emulated API, newest last in <see cref="RecentRequests"/>.</summary>
    public sealed record ApiRequest(DateTimeOffset At, string Method, string Path, int Status);

    private const int RequestLogSize = 500;
    private readonly System.Collections.Concurrent.ConcurrentQueue<ApiRequest> _requests = new();

    /// <summary>The latest API calls (at most 500, in memory only), refused ones included, for the dev page and tests.</summary>
    public IReadOnlyList<ApiRequest> RecentRequests => _requests.ToArray();

    internal void LogRequest(string method, string path, int status)
    {
        _requests.Enqueue(new ApiRequest(DateTimeOffset.UtcNow, method, path, status));
        while (_requests.Count > RequestLogSize && _requests.TryDequeue(out _)) { }
    }

    /// <summary>The API version events carry: the one Stripe.net pins, so <c>EventUtility.ConstructEvent</c> accepts them.</summary>
    public string ApiVersion => Stripe.StripeConfiguration.ApiVersion;

    /// <summary>The emulated "now": real time plus however far the dev controls have advanced the clock.</summary>
    public DateTimeOffset Now => DateTimeOffset.UtcNow.AddSeconds(Interlocked.Read(ref _clockOffsetSeconds));

    private string? _eventApiVersionOverride;

    /// <summary>
    /// The API version events are delivered in: set from the dev controls, else configured, else <see cref="ApiVersion"/>.
    /// Only <c>api_version</c> changes: the emulator knows one shape of each object, the pinned version's.
    /// </summary>
    public string EventApiVersion => Volatile.Read(ref _eventApiVersionOverride)
        ?? (string.IsNullOrWhiteSpace(Options.EventApiVersion) ? ApiVersion : Options.EventApiVersion.Trim());

    /// <summary>Sets the API version events are delivered in from the dev controls; null goes back to the configured one.</summary>
    public async Task SetEventApiVersionAsync(string? version)
    {
        if (version is not null && !IsApiVersion(version))
            throw new ArgumentException("Not a Stripe API version.", nameof(version));
        await WriteAsync(null, async tx =>
        {
            if (version is null)
                await tx.RemoveSettingAsync(EventApiVersionSetting);
            else
                await tx.SetSettingAsync(EventApiVersionSetting, version);
            return 0;
        });
        Volatile.Write(ref _eventApiVersionOverride, version);
        _logger.LogInformation("Stripe emulator events now delivered in API version {ApiVersion}", EventApiVersion);
    }

    /// <summary>Delivery faults in force: those set from the dev controls, else those configured.</summary>
    public DeliveryFaults Faults => Volatile.Read(ref _faultsOverride) is var f and >= 0 ? (DeliveryFaults)f : Options.Faults;

    internal async Task<T> WriteAsync<T>(RequestInfo? request, Func<EmulatorTx, Task<T>> work, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await using var connection = await Store.OpenAsync(ct);
            await using var transaction = connection.BeginTransaction();
            var tx = new EmulatorTx(connection, transaction, this, Now.ToUnixTimeSeconds(), request);
            var result = await work(tx);
            await transaction.CommitAsync(ct);
            if (tx.DeferredError is { } error) throw error;
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    private ApiFaults? _apiFaultsOverride;
    private int _apiFaultsInjected;

    /// <summary>API faults in force: those set from the dev controls, else those configured.</summary>
    public ApiFaults ApiFaultsInForce => Volatile.Read(ref _apiFaultsOverride) ?? Options.ApiFaults;

    /// <summary>Sets the API faults (until the process stops); null goes back to the configured ones. The count of injected faults restarts.</summary>
    public void SetApiFaults(ApiFaults? faults)
    {
        if (faults?.Problem() is { } problem)
            throw new ArgumentException(problem, nameof(faults));
        Volatile.Write(ref _apiFaultsOverride, faults);
        Interlocked.Exchange(ref _apiFaultsInjected, 0);
        _logger.LogInformation("Stripe emulator API faults set to {ApiFaults}", ApiFaultsInForce);
    }

    /// <summary>How many API calls have been faulted since the faults were last set.</summary>
    public int ApiFaultsInjected => Volatile.Read(ref _apiFaultsInjected);

    /// <summary>Draws the fault (if any) for one API call.</summary>
    internal ApiFault NextApiFault(string methodPath)
    {
        var faults = ApiFaultsInForce;
        if (!faults.Any || (faults.Route is { Length: > 0 } route && !methodPath.StartsWith(route, StringComparison.OrdinalIgnoreCase)))
            return ApiFault.None;
        var roll = Random.Shared.Next(100);
        var fault = roll < faults.RateLimitPercent ? ApiFault.RateLimit
            : roll < faults.RateLimitPercent + faults.ServerErrorPercent ? ApiFault.ServerError
            : roll < faults.RateLimitPercent + faults.ServerErrorPercent + faults.TimeoutPercent ? ApiFault.HoldAnswer
            : ApiFault.None;
        if (fault == ApiFault.None)
            return fault;
        while (true)
        {
            var injected = Volatile.Read(ref _apiFaultsInjected);
            if (faults.Limit > 0 && injected >= faults.Limit)
                return ApiFault.None;
            if (Interlocked.CompareExchange(ref _apiFaultsInjected, injected + 1, injected) == injected)
                return fault;
        }
    }

    /// <summary>Sets the delivery faults from the dev controls; null goes back to the configured ones.</summary>
    public async Task SetFaultsAsync(DeliveryFaults? faults)
    {
        await WriteAsync(null, async tx =>
        {
            if (faults is null)
                await tx.RemoveSettingAsync(FaultsSetting);
            else
                await tx.SetSettingAsync(FaultsSetting, faults.Value.ToString());
            return 0;
        });
        Volatile.Write(ref _faultsOverride, faults is { } set ? (int)set : -1);
        _logger.LogInformation("Stripe emulator delivery faults set to {Faults}", Faults);
    }

    /// <summary>
    /// Moves the emulated clock forward and runs what Stripe would have run meanwhile, in the order it fell due: period
    /// ends and cancellations, renewal invoices charged an hour after creation, retries, bank debits settling, each with its events.
    /// </summary>
    public async Task<DateTimeOffset> AdvanceClockAsync(TimeSpan by)
    {
        if (by < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(by), "The clock only moves forward.");
        var offset = await WriteAsync(null, async tx =>
        {
            var advanced = Interlocked.Read(ref _clockOffsetSeconds) + (long)by.TotalSeconds;
            await tx.SetSettingAsync(ClockOffsetSetting, advanced.ToString(CultureInfo.InvariantCulture));
            return advanced;
        });
        // Only once the new offset is stored does the running emulator use it, so a failed write leaves the clock alone.
        Interlocked.Exchange(ref _clockOffsetSeconds, offset);
        var renewed = await RunDueBillingCyclesAsync();
        _logger.LogInformation("Stripe emulator clock advanced by {Advance} to {Now}; {Steps} billing steps run", by, Now, renewed);
        return Now;
    }

    /// <summary>Runs every billing step the emulated clock has reached: period ends, renewal charges, retries, bank debit settlements, expired holds, expired Checkout Sessions.</summary>
    public Task<int> RunDueBillingCyclesAsync(CancellationToken ct = default) =>
        WriteAsync(null, async tx => await RunBillingCyclesAsync(tx) + await ExpireHoldsAsync(tx) + await MakeFundsAvailableAsync(tx)
            + await ExpireDueCheckoutSessionsAsync(tx), ct);

    private static string? Ref(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonObject o => o["id"]?.GetValue<string>(),
        _ => null,
    };

    internal static long Unix(JsonNode? node) => node?.GetValue<long>() ?? 0;

    internal async Task<JsonObject> CreateCustomerAsync(EmulatorTx tx, FormParams p)
    {
        var customer = StripeShapes.Customer(Ids.New("cus_"), tx.Now);
        await ApplyCustomerParamsAsync(tx, customer, p);
        await tx.PutAsync(customer);
        await tx.EmitAsync("customer.created", customer);
        return customer;
    }

    internal async Task<JsonObject> UpdateCustomerAsync(EmulatorTx tx, string id, FormParams p)
    {
        var customer = await tx.GetAsync(id, "customer");
        var before = customer.DeepClone().AsObject();
        await ApplyCustomerParamsAsync(tx, customer, p);
        await tx.PutAsync(customer);
        if (!JsonNode.DeepEquals(before, customer))
            await tx.EmitAsync("customer.updated", customer, before);
        return customer;
    }

    private static async Task ApplyCustomerParamsAsync(EmulatorTx tx, JsonObject customer, FormParams p)
    {
        foreach (var field in new[] { "email", "name", "description", "phone" })
            if (p.Has(field))
                customer[field] = p.Str(field) is { Length: > 0 } s ? s : null;
        FormParams.MergeMetadata(customer, p.Obj("metadata"));
        if (p.Obj("address") is { } address)
        {
            // Stripe Tax locates a customer by their address; an empty value clears a field.
            var stored = (customer["address"] as JsonObject)?.DeepClone().AsObject() ?? StripeShapes.EmptyAddress();
            foreach (var (key, value) in address)
            {
                if (!stored.ContainsKey(key))
                    throw new StripeApiException(400, "invalid_request_error", $"Received unknown parameter: address[{key}]", "parameter_unknown", $"address[{key}]");
                stored[key] = value?.ToString() is { Length: > 0 } text ? text : null;
            }
            customer["address"] = stored;
        }
        else if (p.Has("address") && p.Str("address") == "")
            customer["address"] = null;
        if (p.Obj("invoice_settings") is { } settings && settings.ContainsKey("default_payment_method"))
        {
            var pmId = FormParams.Str(settings, "default_payment_method");
            if (!string.IsNullOrEmpty(pmId))
            {
                var pm = await tx.GetAsync(pmId, "payment_method", "invoice_settings[default_payment_method]");
                if (Ref(pm["customer"]) != customer["id"]!.GetValue<string>())
                    throw StripeApiException.Invalid($"The customer does not have a payment method with the ID {pmId}. The payment method must be attached to the customer.", "invoice_settings[default_payment_method]", "resource_missing");
            }
            customer["invoice_settings"]!["default_payment_method"] = string.IsNullOrEmpty(pmId) ? null : pmId;
        }
    }

    internal async Task<JsonObject> CreateProductAsync(EmulatorTx tx, FormParams p)
    {
        var product = StripeShapes.Product(p.Str("id") is { Length: > 0 } id ? id : Ids.New("prod_"), tx.Now);
        if (await tx.FindAsync(product["id"]!.GetValue<string>()) is not null)
            throw StripeApiException.Invalid($"Product already exists.", "id", "resource_already_exists");
        product["name"] = p.Required("name");
        if (p.Has("description")) product["description"] = p.Str("description");
        if (p.Has("active")) product["active"] = p.Bool("active");
        FormParams.MergeMetadata(product, p.Obj("metadata"));
        await tx.PutAsync(product);
        await tx.EmitAsync("product.created", product);
        return product;
    }

    internal async Task<JsonObject> CreatePriceAsync(EmulatorTx tx, FormParams p)
    {
        var price = StripeShapes.Price(Ids.New("price_"), tx.Now);
        price["currency"] = StripeCurrencies.Check(p.Required("currency"));
        var amount = p.Long("unit_amount") ?? throw StripeApiException.MissingParam("unit_amount");
        if (amount < 0) throw StripeApiException.Invalid("This value must be greater than or equal to 0.", "unit_amount");
        price["unit_amount"] = amount;
        price["unit_amount_decimal"] = amount.ToString(CultureInfo.InvariantCulture);
        if (p.Has("nickname")) price["nickname"] = p.Str("nickname");
        if (p.Has("active")) price["active"] = p.Bool("active");
        FormParams.MergeMetadata(price, p.Obj("metadata"));

        if (p.Str("product") is { Length: > 0 } productId)
            price["product"] = (await tx.GetAsync(productId, "product", "product"))["id"]!.GetValue<string>();
        else if (p.Obj("product_data") is { } productData)
            price["product"] = (await CreateProductAsync(tx, new FormParams(productData)))["id"]!.GetValue<string>();
        else
            throw StripeApiException.MissingParam("product");

        if (p.Obj("recurring") is { } recurring)
        {
            var interval = FormParams.Str(recurring, "interval");
            if (interval is not ("day" or "week" or "month" or "year"))
                throw StripeApiException.Invalid("Invalid recurring[interval]: must be one of day, week, month, or year", "recurring[interval]");
            price["recurring"] = StripeShapes.Recurring(interval, FormParams.Long(recurring, "interval_count") ?? 1);
            price["type"] = "recurring";
        }

        if (p.Str("lookup_key") is { Length: > 0 } lookupKey)
        {
            await TakeLookupKeyAsync(tx, lookupKey, price["id"]!.GetValue<string>(), p.Bool("transfer_lookup_key") == true);
            price["lookup_key"] = lookupKey;
        }

        await tx.PutAsync(price);
        await tx.EmitAsync("price.created", price);
        var product = await tx.GetAsync(price["product"]!.GetValue<string>(), "product");
        if (product["default_price"] is null)
        {
            var before = product.DeepClone().AsObject();
            product["default_price"] = price["id"]!.GetValue<string>();
            product["updated"] = tx.Now;
            await tx.PutAsync(product);
            await tx.EmitAsync("product.updated", product, before);
        }
        return price;
    }

    internal static async Task<JsonObject> UpdateProductAsync(EmulatorTx tx, string id, FormParams p)
    {
        var product = await tx.GetAsync(id, "product");
        var before = product.DeepClone().AsObject();
        if (p.Str("name") is { Length: > 0 } name) product["name"] = name;
        if (p.Has("description")) product["description"] = p.Str("description") is { Length: > 0 } d ? d : null;
        if (p.Has("active")) product["active"] = p.Bool("active");
        if (p.Str("default_price") is { Length: > 0 } defaultPrice)
            product["default_price"] = (await tx.GetAsync(defaultPrice, "price", "default_price"))["id"]!.GetValue<string>();
        FormParams.MergeMetadata(product, p.Obj("metadata"));
        if (JsonNode.DeepEquals(before, product)) return product;
        product["updated"] = tx.Now;
        await tx.PutAsync(product);
        await tx.EmitAsync("product.updated", product, before);
        return product;
    }

    /// <summary>What Stripe lets change on a price: whether it is active, its nickname, metadata and lookup key.</summary>
    internal static async Task<JsonObject> UpdatePriceAsync(EmulatorTx tx, string id, FormParams p)
    {
        var price = await tx.GetAsync(id, "price");
        var before = price.DeepClone().AsObject();
        if (p.Has("active")) price["active"] = p.Bool("active");
        if (p.Has("nickname")) price["nickname"] = p.Str("nickname") is { Length: > 0 } n ? n : null;
        FormParams.MergeMetadata(price, p.Obj("metadata"));
        if (p.Has("lookup_key"))
        {
            var lookupKey = p.Str("lookup_key") is { Length: > 0 } k ? k : null;
            if (lookupKey is not null)
                await TakeLookupKeyAsync(tx, lookupKey, id, p.Bool("transfer_lookup_key") == true);
            price["lookup_key"] = lookupKey;
        }
        if (JsonNode.DeepEquals(before, price)) return price;
        await tx.PutAsync(price);
        await tx.EmitAsync("price.updated", price, before);
        return price;
    }

    /// <summary>A lookup key names one price: another price holding it gives it up when asked to transfer, else it is an error.</summary>
    private static async Task TakeLookupKeyAsync(EmulatorTx tx, string lookupKey, string priceId, bool transfer)
    {
        if (await tx.FindPriceByLookupKeyAsync(lookupKey) is not { } holder || holder["id"]!.GetValue<string>() == priceId) return;
        if (!transfer)
            throw StripeApiException.Invalid($"A price (`{holder["id"]}`) already uses that lookup key.", "lookup_key");
        var before = holder.DeepClone().AsObject();
        holder["lookup_key"] = null;
        await tx.PutAsync(holder);
        await tx.EmitAsync("price.updated", holder, before);
    }

    internal static IEnumerable<JsonObject> FilterPrices(IEnumerable<JsonObject> prices, FormParams p)
    {
        var lookupKeys = p.Strings("lookup_keys");
        if (lookupKeys.Count > 0) prices = prices.Where(x => lookupKeys.Contains(x["lookup_key"]?.GetValue<string>() ?? "\0"));
        if (p.Bool("active") is { } active) prices = prices.Where(x => x["active"]!.GetValue<bool>() == active);
        if (p.Str("product") is { Length: > 0 } product) prices = prices.Where(x => Ref(x["product"]) == product);
        if (p.Str("type") is { Length: > 0 } type) prices = prices.Where(x => x["type"]!.GetValue<string>() == type);
        if (p.Str("currency") is { Length: > 0 } currency) prices = prices.Where(x => x["currency"]!.GetValue<string>() == currency);
        if (FormParams.Str(p.Obj("recurring"), "interval") is { Length: > 0 } interval)
            prices = prices.Where(x => x["recurring"]?["interval"]?.GetValue<string>() == interval);
        return prices;
    }
}

/// <summary>Webhook delivery faults the emulator can inject so the app's tolerance for them is exercised.</summary>
[Flags]
public enum DeliveryFaults
{
    None = 0,
    /// <summary>Every event is delivered twice.</summary>
    Duplicate = 1,
    /// <summary>Every event is delivered late, after <c>FaultDelaySeconds</c>.</summary>
    Delay = 2,
    /// <summary>Events are held for <c>ShuffleWindowMilliseconds</c> and sent out of order.</summary>
    Shuffle = 4,
    /// <summary>Events are recorded (listed by <c>GET /v1/events</c>) but never delivered, as when the endpoint was unreachable for longer than Stripe retries.</summary>
    Drop = 8,
}
