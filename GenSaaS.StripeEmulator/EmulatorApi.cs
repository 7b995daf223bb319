using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// Stripe's REST API under <c>/emulator/stripe/v1</c>, as Stripe.net calls it: form-encoded bodies, bearer test keys,
/// idempotency keys, expansion, list pagination, and errors in Stripe's format and status codes.
/// </summary>
internal static class EmulatorApi
{
    public const string Prefix = "/emulator/stripe";

    private delegate Task<JsonObject> Handler(EmulatedStripe emulator, EmulatorTx tx, FormParams p, ApiCall call);

    /// <summary>The parts of the HTTP call a handler needs besides its parameters.</summary>
    private sealed record ApiCall(string Id, string BaseUrl, string Path);

    public static void Map(IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup(Prefix + "/v1").ExcludeFromDescription().DisableAntiforgery();

        Route(v1, "POST", "/customers", (e, tx, p, _) => e.CreateCustomerAsync(tx, p));
        Route(v1, "GET", "/customers", async (_, tx, p, c) =>
            List(Filter(await tx.ListAsync("customer"), o => p.Str("email") is not { Length: > 0 } email || o["email"]?.GetValue<string>() == email), p, c));
        Route(v1, "GET", "/customers/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "customer"));
        Route(v1, "POST", "/customers/{id}", (e, tx, p, c) => e.UpdateCustomerAsync(tx, c.Id, p));
        Route(v1, "GET", "/customers/{id}/payment_methods", async (_, tx, p, c) =>
        {
            await tx.GetAsync(c.Id, "customer");
            return List(await tx.ListAsync("payment_method", c.Id), p, c);
        });

        Route(v1, "POST", "/products", (e, tx, p, _) => e.CreateProductAsync(tx, p));
        Route(v1, "GET", "/products", async (_, tx, p, c) =>
            List(Filter(await tx.ListAsync("product"), o => p.Bool("active") is not { } active || o["active"]!.GetValue<bool>() == active), p, c));
        Route(v1, "GET", "/products/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "product"));
        Route(v1, "POST", "/products/{id}", (_, tx, p, c) => EmulatedStripe.UpdateProductAsync(tx, c.Id, p));

        Route(v1, "POST", "/prices", (e, tx, p, _) => e.CreatePriceAsync(tx, p));
        Route(v1, "GET", "/prices", async (_, tx, p, c) => List(EmulatedStripe.FilterPrices(await tx.ListAsync("price"), p).ToList(), p, c));
        Route(v1, "GET", "/prices/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "price"));
        Route(v1, "POST", "/prices/{id}", (_, tx, p, c) => EmulatedStripe.UpdatePriceAsync(tx, c.Id, p));

        Route(v1, "POST", "/checkout/sessions", (e, tx, p, c) => e.CreateCheckoutSessionAsync(tx, p, c.BaseUrl));
        Route(v1, "GET", "/checkout/sessions", async (_, tx, p, c) =>
            List(Filter(await tx.ListAsync("checkout.session", p.Str("customer")), o =>
                (p.Str("payment_intent") is not { Length: > 0 } pi || o["payment_intent"]?.GetValue<string>() == pi)
                && (p.Str("subscription") is not { Length: > 0 } sub || o["subscription"]?.GetValue<string>() == sub)), p, c));
        Route(v1, "GET", "/checkout/sessions/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "checkout.session"));
        Route(v1, "GET", "/checkout/sessions/{id}/line_items", async (_, tx, _, c) =>
            await EmulatedStripe.CheckoutLineItemsAsync(tx, await tx.GetAsync(c.Id, "checkout.session")));
        Route(v1, "POST", "/checkout/sessions/{id}/expire", async (_, tx, _, c) =>
            await EmulatedStripe.ExpireCheckoutSessionAsync(tx, await tx.GetAsync(c.Id, "checkout.session")));

        Route(v1, "GET", "/setup_intents/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "setup_intent"));
        Route(v1, "GET", "/setup_intents", async (_, tx, p, c) => List(await tx.ListAsync("setup_intent", p.Str("customer")), p, c));

        Route(v1, "GET", "/payment_methods/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "payment_method"));
        Route(v1, "GET", "/payment_methods", async (_, tx, p, c) =>
            List(await tx.ListAsync("payment_method", p.Str("customer") is { Length: > 0 } customer ? customer : throw StripeApiException.MissingParam("customer")), p, c));
        Route(v1, "POST", "/payment_methods/{id}/attach", (e, tx, p, c) => e.AttachPaymentMethodAsync(tx, c.Id, p.Required("customer")));
        Route(v1, "POST", "/payment_methods/{id}/detach", (_, tx, _, c) => EmulatedStripe.DetachPaymentMethodAsync(tx, c.Id));

        Route(v1, "POST", "/payment_intents", (e, tx, p, _) => e.CreatePaymentIntentAsync(tx, p));
        Route(v1, "GET", "/payment_intents", async (_, tx, p, c) => List(await tx.ListAsync("payment_intent", p.Str("customer")), p, c));
        Route(v1, "GET", "/payment_intents/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "payment_intent"));
        Route(v1, "POST", "/payment_intents/{id}/confirm", (e, tx, p, c) => e.ConfirmPaymentIntentAsync(tx, c.Id, p));
        Route(v1, "POST", "/payment_intents/{id}/capture", (_, tx, p, c) => EmulatedStripe.CapturePaymentIntentAsync(tx, c.Id, p));
        Route(v1, "POST", "/payment_intents/{id}/cancel", (_, tx, p, c) => EmulatedStripe.CancelPaymentIntentAsync(tx, c.Id, p));

        Route(v1, "GET", "/charges/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "charge"));
        Route(v1, "GET", "/charges", async (_, tx, p, c) =>
            List(await tx.ListAsync("charge", p.Str("customer"), p.Str("payment_intent")), p, c));

        Route(v1, "POST", "/refunds", (_, tx, p, _) => EmulatedStripe.CreateRefundAsync(tx, p));
        Route(v1, "GET", "/refunds/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "refund"));
        Route(v1, "GET", "/refunds", async (_, tx, p, c) =>
            List(Filter(await tx.ListAsync("refund", parent: p.Str("charge")), o =>
                p.Str("payment_intent") is not { Length: > 0 } pi || o["payment_intent"]?.GetValue<string>() == pi), p, c));

        Route(v1, "POST", "/subscriptions", (e, tx, p, _) => e.CreateSubscriptionAsync(tx, p));
        Route(v1, "GET", "/subscriptions/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "subscription"));
        Route(v1, "GET", "/subscriptions", async (_, tx, p, c) =>
            List(Filter(await tx.ListAsync("subscription", p.Str("customer")), o => (p.Str("status") ?? "") switch
            {
                "" => o["status"]!.GetValue<string>() != "canceled",
                "all" => true,
                var status => o["status"]!.GetValue<string>() == status,
            }), p, c));
        Route(v1, "POST", "/subscriptions/{id}", (_, tx, p, c) => EmulatedStripe.UpdateSubscriptionAsync(tx, c.Id, p));
        Route(v1, "DELETE", "/subscriptions/{id}", (_, tx, p, c) => EmulatedStripe.CancelSubscriptionAsync(tx, c.Id, p));

        Route(v1, "GET", "/invoice_payments", async (_, tx, p, c) =>
            List(Filter(await EmulatedStripe.InvoicePaymentsAsync(tx, p.Str("invoice")), o =>
                (FormParams.Str(p.Obj("payment"), "type") is not { Length: > 0 } type || o["payment"]!["type"]!.GetValue<string>() == type)
                && (FormParams.Str(p.Obj("payment"), "payment_intent") is not { Length: > 0 } pi || o["payment"]!["payment_intent"]?.GetValue<string>() == pi)), p, c));
        Route(v1, "GET", "/invoices/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "invoice"));
        Route(v1, "GET", "/invoices", async (_, tx, p, c) =>
            List(Filter(await tx.ListAsync("invoice", p.Str("customer"), p.Str("subscription")), o =>
                p.Str("status") is not { Length: > 0 } status || o["status"]!.GetValue<string>() == status), p, c));

        Route(v1, "POST", "/billing_portal/sessions", (_, tx, p, c) => EmulatedStripe.CreatePortalSessionAsync(tx, p, c.BaseUrl));

        Route(v1, "POST", "/billing_portal/configurations", (_, tx, p, _) => EmulatedStripe.CreatePortalConfigurationAsync(tx, p));
        Route(v1, "GET", "/billing_portal/configurations", async (_, tx, p, c) =>
            List(EmulatedStripe.FilterPortalConfigurations(await tx.ListAsync("billing_portal.configuration"), p).ToList(), p, c));
        Route(v1, "GET", "/billing_portal/configurations/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "billing_portal.configuration"));
        Route(v1, "POST", "/billing_portal/configurations/{id}", (_, tx, p, c) => EmulatedStripe.UpdatePortalConfigurationAsync(tx, c.Id, p));

        Route(v1, "POST", "/webhook_endpoints", (_, tx, p, _) => EmulatedStripe.CreateWebhookEndpointAsync(tx, p));
        Route(v1, "GET", "/webhook_endpoints", async (_, tx, p, c) => List(await tx.ListAsync("webhook_endpoint"), p, c));
        Route(v1, "GET", "/webhook_endpoints/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "webhook_endpoint"));
        Route(v1, "POST", "/webhook_endpoints/{id}", (_, tx, p, c) => EmulatedStripe.UpdateWebhookEndpointAsync(tx, c.Id, p));
        Route(v1, "DELETE", "/webhook_endpoints/{id}", (_, tx, _, c) => EmulatedStripe.DeleteWebhookEndpointAsync(tx, c.Id));

        Route(v1, "GET", "/tax/settings", async (_, tx, _, _) => await EmulatedStripe.GetTaxSettingsAsync(tx));
        Route(v1, "POST", "/tax/settings", (_, tx, p, _) => EmulatedStripe.UpdateTaxSettingsAsync(tx, p));

        Route(v1, "GET", "/balance_transactions", async (_, tx, p, c) => List(await EmulatedStripe.ListBalanceTransactionsAsync(tx, p), p, c));
        Route(v1, "GET", "/balance_transactions/{id}", (_, tx, _, c) => tx.GetAsync(c.Id, "balance_transaction"));

        Route(v1, "GET", "/events/{id}", (_, tx, _, c) => EmulatedStripe.GetEventAsync(tx, c.Id));
        Route(v1, "GET", "/events", async (_, tx, p, c) => List(await EmulatedStripe.ListEventsAsync(tx, p), p, c));

        v1.Map("/{**rest}", async (HttpContext http) =>
        {
            // As at Stripe, the key is checked before the path: without it, an unknown URL is a 401 too.
            if (await RefuseUnauthenticatedAsync(http, http.RequestServices.GetRequiredService<EmulatedStripe>()))
                return;
            await Write(http, 404, new StripeApiException(404, "invalid_request_error",
                $"Unrecognized request URL ({http.Request.Method}: {http.Request.Path.Value?[Prefix.Length..]}).").ToJson().ToJsonString(), false);
        });
    }

    private static List<JsonObject> Filter(List<JsonObject> items, Func<JsonObject, bool> keep) => items.Where(keep).ToList();

    /// <summary>
    /// A page of a list, newest first, with Stripe's <c>limit</c>, <c>starting_after</c> and <c>ending_before</c>, and its
    /// <c>created</c> filter (a time, or <c>created[gt|gte|lt|lte]</c>) on the lists whose options take it.
    /// </summary>
    private static JsonObject List(List<JsonObject> items, FormParams p, ApiCall call)
    {
        if (CreatedRange(p) is var (from, to) && (from != long.MinValue || to != long.MaxValue))
            items = items.Where(o => o["created"]?.GetValue<long>() is { } created && created >= from && created <= to).ToList();
        var limit = (int)Math.Clamp(p.Long("limit") ?? 10, 1, 100);
        IEnumerable<JsonObject> page = items;
        if (p.Str("starting_after") is { Length: > 0 } after)
            page = items.SkipWhile(o => o["id"]!.GetValue<string>() != after).Skip(1);
        else if (p.Str("ending_before") is { Length: > 0 } before)
            page = items.TakeWhile(o => o["id"]!.GetValue<string>() != before).TakeLast(limit);
        var rest = page.ToList();
        return StripeShapes.List("/v1" + call.Path, rest.Take(limit), rest.Count > limit);
    }

    /// <summary>The inclusive range of <c>created</c> a list is filtered to: <c>created=T</c> or any of <c>created[gt|gte|lt|lte]</c>.</summary>
    internal static (long From, long To) CreatedRange(FormParams p)
    {
        long from = long.MinValue, to = long.MaxValue;
        if (p.Obj("created") is { } created)
        {
            if (FormParams.Long(created, "gte") is { } gte) from = Math.Max(from, gte);
            if (FormParams.Long(created, "gt") is { } gt) from = Math.Max(from, gt + 1);
            if (FormParams.Long(created, "lte") is { } lte) to = Math.Min(to, lte);
            if (FormParams.Long(created, "lt") is { } lt) to = Math.Min(to, lt - 1);
        }
        else if (p.Long("created") is { } exact)
            (from, to) = (exact, exact);
        return (from, to);
    }

    private static void Route(RouteGroupBuilder group, string method, string pattern, Handler handler) =>
        group.MapMethods(pattern, [method], (HttpContext http) => HandleAsync(http, handler, method + " " + pattern));

    private static async Task HandleAsync(HttpContext http, Handler handler, string route)
    {
        var emulator = http.RequestServices.GetRequiredService<EmulatedStripe>();
        if (await RefuseUnauthenticatedAsync(http, emulator))
            return;

        var pairs = http.Request.Query.SelectMany(q => q.Value.Select(v => KeyValuePair.Create(q.Key, v ?? ""))).ToList();
        if (http.Request.HasFormContentType)
        {
            var form = await http.Request.ReadFormAsync();
            pairs.AddRange(form.SelectMany(f => f.Value.Select(v => KeyValuePair.Create(f.Key, v ?? ""))));
        }
        var p = FormParams.Parse(pairs);
        try
        {
            StripeParameters.Check(route, p);
        }
        catch (StripeApiException unknown)
        {
            // Stripe refuses an unknown parameter before it looks at the idempotency key, and saves nothing.
            http.Response.Headers["Request-Id"] = "req_" + Ids.Random(14);
            await Write(http, unknown.Status, unknown.ToJson().ToJsonString(), false);
            return;
        }
        var path = http.Request.Path.Value![(Prefix.Length + "/v1".Length)..];
        var fault = emulator.NextApiFault(http.Request.Method + " " + path);
        if (fault is ApiFault.RateLimit or ApiFault.ServerError)
        {
            // Refused before any work: nothing is created and nothing is saved under the idempotency key, so a retry runs afresh.
            http.Response.Headers["Request-Id"] = "req_" + Ids.Random(14);
            http.Response.Headers["Stripe-Should-Retry"] = "true";
            var refusal = fault == ApiFault.RateLimit
                ? new StripeApiException(429, "invalid_request_error",
                    "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.", "rate_limit")
                : new StripeApiException(500, "api_error", "An unknown error occurred");
            await Write(http, refusal.Status, refusal.ToJson().ToJsonString(), false);
            emulator.LogRequest(http.Request.Method, "/v1" + path, refusal.Status);
            return;
        }
        var call = new ApiCall(http.Request.RouteValues["id"]?.ToString() ?? "", BaseUrl(http), path);
        var requestId = "req_" + Ids.Random(14);
        http.Response.Headers["Request-Id"] = requestId;
        var idempotencyKey = HttpMethods.IsGet(http.Request.Method) ? null : http.Request.Headers["Idempotency-Key"].ToString() is { Length: > 0 } k ? k : null;
        var methodPath = http.Request.Method + " " + path;
        var paramsHash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("&", pairs.Select(kv => kv.Key + "=" + kv.Value)))));

        var (status, body, replayed) = await emulator.WriteAsync(new RequestInfo(requestId, idempotencyKey), async tx =>
        {
            if (idempotencyKey is not null && await tx.FindIdempotencyAsync(idempotencyKey) is { } record)
            {
                if (record.MethodPath != methodPath || record.ParamsHash != paramsHash)
                    return (400, new StripeApiException(400, "idempotency_error",
                        $"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{idempotencyKey}' if you meant to execute a different request.")
                        .ToJson().ToJsonString(), false);
                return ((int)record.Status, record.Body, true);
            }

            await tx.Connection.ExecuteAsync("SAVEPOINT api_call;", transaction: tx.Transaction);
            int status;
            string body;
            try
            {
                var result = await handler(emulator, tx, p, call);
                result = await ExpandAsync(tx, result.DeepClone().AsObject(), p.Strings("expand"));
                status = 200;
                body = result.ToJsonString();
                await tx.Connection.ExecuteAsync("RELEASE api_call;", transaction: tx.Transaction);
            }
            catch (StripeApiException error)
            {
                await tx.Connection.ExecuteAsync("ROLLBACK TO api_call; RELEASE api_call;", transaction: tx.Transaction);
                status = error.Status;
                body = error.ToJson().ToJsonString();
            }
            if (tx.DeferredError is { } deferred)
            {
                tx.DeferredError = null;
                status = deferred.Status;
                body = deferred.ToJson().ToJsonString();
            }
            // Stripe saves the result of a request that ran (success or card error), not one that failed validation.
            if (idempotencyKey is not null && status is 200 or 402)
                await tx.SaveIdempotencyAsync(idempotencyKey, methodPath, paramsHash, status, body);
            return (status, body, false);
        }, http.RequestAborted);
        if (fault == ApiFault.HoldAnswer)
        {
            // The work is done and saved; the answer is lost to a client that gives up first, as when Stripe's reply never arrives.
            emulator.LogRequest(http.Request.Method, "/v1" + path, 0);
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(emulator.ApiFaultsInForce.HoldSeconds), http.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        await Write(http, status, body, replayed);
        emulator.LogRequest(http.Request.Method, "/v1" + path, status);
    }

    /// <summary>Answers Stripe's 401 and returns true unless the call carries the emulator's secret key.</summary>
    private static async Task<bool> RefuseUnauthenticatedAsync(HttpContext http, EmulatedStripe emulator)
    {
        if (Authenticate(http.Request, emulator) is not { } refusal)
            return false;
        http.Response.Headers.WWWAuthenticate = "Basic realm=\"Stripe\"";
        await Write(http, 401, Unauthorized(refusal), false);
        emulator.LogRequest(http.Request.Method, http.Request.Path.Value![Prefix.Length..], 401);
        return true;
    }

    private const string NoApiKey =
        "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
        + "See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.";

    /// <summary>
    /// Null when the call carries this emulator's secret key, as Stripe takes it: <c>Authorization: Bearer sk_...</c> or HTTP Basic
    /// with the key as user name; otherwise Stripe's message for a missing or a wrong key. A key anywhere else (query, form) is no key.
    /// </summary>
    private static string? Authenticate(HttpRequest request, EmulatedStripe emulator)
    {
        var header = request.Headers.Authorization.ToString().Trim();
        string? key = null;
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            key = header["Bearer ".Length..].Trim();
        else if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
            key = BasicUserName(header["Basic ".Length..].Trim());
        if (string.IsNullOrEmpty(key))
            return NoApiKey;
        return emulator.IsSecretKey(key) ? null : $"Invalid API Key provided: {Mask(key)}";
    }

    private static string? BasicUserName(string encoded)
    {
        var bytes = new byte[encoded.Length];
        if (!Convert.TryFromBase64String(encoded, bytes, out var length))
            return null;
        var credentials = Encoding.UTF8.GetString(bytes, 0, length);
        var colon = credentials.IndexOf(':', StringComparison.Ordinal);
        return (colon < 0 ? credentials : credentials[..colon]).Trim();
    }

    /// <summary>The key as Stripe echoes a wrong one: its prefix and last four characters, the rest starred.</summary>
    internal static string Mask(string key)
    {
        if (key.Length > 12)
            return key[..8] + new string('*', Math.Min(key.Length - 12, 20)) + key[^4..];
        var shown = key.Length / 3;
        return new string('*', key.Length - shown) + key[^shown..];
    }

    private static string Unauthorized(string message) =>
        new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = "invalid_request_error" } }.ToJsonString();

    private static Task Write(HttpContext http, int status, string body, bool replayed)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        if (replayed) http.Response.Headers["Idempotent-Replayed"] = "true";
        if (http.Request.Headers["Stripe-Version"].ToString() is { Length: > 0 } version)
            http.Response.Headers["Stripe-Version"] = version;
        return http.Response.WriteAsync(body);
    }

    /// <summary>Where the hosted pages are reached: the configured public address, else the address this call came to.</summary>
    internal static string BaseUrl(HttpContext http)
    {
        var configured = http.RequestServices.GetRequiredService<EmulatedStripe>().Options.PublicBaseUrl;
        return string.IsNullOrWhiteSpace(configured) ? $"{http.Request.Scheme}://{http.Request.Host}" : configured.TrimEnd('/');
    }

    /// <summary>Replaces ids with their objects along each <c>expand[]</c> path, as Stripe does (lists via <c>data.</c>).</summary>
    private static async Task<JsonObject> ExpandAsync(EmulatorTx tx, JsonObject result, IReadOnlyList<string> paths)
    {
        foreach (var path in paths.Where(p => p.Length > 0))
            await ExpandPathAsync(tx, result, path.Split('.'), 0);
        return result;
    }

    private static async Task ExpandPathAsync(EmulatorTx tx, JsonNode? node, string[] segments, int index)
    {
        if (node is JsonArray array)
        {
            foreach (var element in array.ToList())
                await ExpandPathAsync(tx, element, segments, index);
            return;
        }
        if (node is not JsonObject obj || index >= segments.Length) return;
        var name = segments[index];
        if (name == "line_items" && obj["object"]?.GetValue<string>() == "checkout.session")
            obj["line_items"] = await EmulatedStripe.CheckoutLineItemsAsync(tx, obj);
        else if (obj[name] is JsonValue value && value.TryGetValue<string>(out var id) && await tx.FindAsync(id) is { } expanded)
            obj[name] = expanded;
        else if (!obj.ContainsKey(name))
            throw StripeApiException.Invalid($"This property cannot be expanded ({string.Join('.', segments[..(index + 1)])}).", "expand");
        await ExpandPathAsync(tx, obj[name], segments, index + 1);
    }
}
