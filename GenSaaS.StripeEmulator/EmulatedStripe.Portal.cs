using System.Text.Json.Nodes;

namespace GenSaaS.StripeEmulator;

/// <summary>What the hosted portal page shows: the customer, their default card and their subscriptions.</summary>
public sealed record PortalView(string Id, string CustomerId, string? Email, string? CardBrand, string? CardLast4, string? ReturnUrl, IReadOnlyList<PortalSubscription> Subscriptions);

public sealed record PortalSubscription(string Id, string Status, bool CancelAtPeriodEnd, DateTimeOffset CurrentPeriodEnd, long AmountMinor, string Currency, string? Interval);

public sealed partial class EmulatedStripe
{
    /// <summary>Stripe's answer (test mode) to a portal session without <c>configuration</c> when the account has no default one.</summary>
    internal const string NoDefaultPortalConfigurationMessage =
        "No configuration provided and your test mode default configuration has not been created. Provide a configuration or create your default by saving your customer portal settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal.";

    internal static async Task<JsonObject> CreatePortalSessionAsync(EmulatorTx tx, FormParams p, string baseUrl)
    {
        var customer = await tx.GetAsync(p.Required("customer"), "customer", "customer");
        var session = StripeShapes.PortalSession(Ids.New("bps_"), tx.Now);
        session["customer"] = customer["id"]!.GetValue<string>();
        if (p.Str("configuration") is { Length: > 0 } configurationId)
        {
            var configuration = await tx.FindAsync(configurationId, "billing_portal.configuration")
                ?? throw StripeApiException.Missing("configuration", configurationId, "configuration");
            if (configuration["active"]?.GetValue<bool>() != true)
                throw StripeApiException.Invalid("The configuration is not active.", "configuration");
            session["configuration"] = configurationId;
        }
        else
        {
            // Without one Stripe uses the account's default configuration, which only saving the portal settings in the
            // Dashboard creates; a new account has none.
            var fallback = (await tx.ListAsync("billing_portal.configuration"))
                .FirstOrDefault(c => c["is_default"]?.GetValue<bool>() == true && c["active"]?.GetValue<bool>() == true)
                ?? throw StripeApiException.Invalid(NoDefaultPortalConfigurationMessage);
            session["configuration"] = fallback["id"]!.GetValue<string>();
        }
        session["return_url"] = p.Str("return_url");
        session["url"] = $"{baseUrl.TrimEnd('/')}/emulator/portal/{session["id"]}";
        await tx.PutAsync(session);
        return session;
    }

    public Task<PortalView?> GetPortalViewAsync(string portalSessionId) =>
        WriteAsync(null, async tx =>
        {
            var session = await tx.FindAsync(portalSessionId, "billing_portal.session");
            if (session is null) return null;
            var customer = await tx.GetAsync(Ref(session["customer"]), "customer");
            var pm = await tx.FindAsync(Ref(customer["invoice_settings"]?["default_payment_method"]), "payment_method");
            var subscriptions = (await tx.ListAsync("subscription", customer["id"]!.GetValue<string>()))
                .Where(s => s["status"]!.GetValue<string>() != "canceled")
                .ToList();
            pm ??= subscriptions.Select(s => Ref(s["default_payment_method"])).FirstOrDefault(id => id is not null) is { } subPm
                ? await tx.FindAsync(subPm, "payment_method")
                : null;
            return (PortalView?)new PortalView(
                portalSessionId,
                customer["id"]!.GetValue<string>(),
                customer["email"]?.GetValue<string>(),
                pm?["card"]?["brand"]?.GetValue<string>(),
                pm?["card"]?["last4"]?.GetValue<string>(),
                session["return_url"]?.GetValue<string>(),
                subscriptions.Select(s =>
                {
                    var price = s["items"]!["data"]![0]!["price"]!;
                    return new PortalSubscription(
                        s["id"]!.GetValue<string>(),
                        s["status"]!.GetValue<string>(),
                        s["cancel_at_period_end"]!.GetValue<bool>(),
                        DateTimeOffset.FromUnixTimeSeconds(PeriodEnd(s)),
                        price["unit_amount"]!.GetValue<long>(),
                        price["currency"]!.GetValue<string>(),
                        price["recurring"]?["interval"]?.GetValue<string>());
                }).ToList());
        });

    /// <summary>
    /// The portal's "update payment method", as Stripe runs it: a SetupIntent confirms the card (3-D Secure first for the cards
    /// that ask for it), the card is attached, becomes the customer's default (<c>customer.updated</c> with
    /// <c>invoice_settings.default_payment_method</c>) and the default of their subscriptions; a past-due invoice is paid with it.
    /// </summary>
    public Task<CheckoutOutcome> PortalChangeCardAsync(string portalSessionId, string? cardNumber, CardAuthentication authentication = CardAuthentication.NotYet) =>
        WriteAsync(null, async tx =>
        {
            var session = await tx.GetAsync(portalSessionId, "billing_portal.session");
            var card = TestCard.Find(cardNumber);
            if (card is null) return new CheckoutOutcome(false, null, "Your card number is incorrect.");
            if (TestCard.DeclinedOnSaving(card.Behaviour) is { } declineCode)
                return new CheckoutOutcome(false, null, StripeApiException.DeclineMessage(declineCode));
            var threeDSecure = TestCard.NeedsAuthenticationOnSession(card.Behaviour);
            if (threeDSecure && authentication == CardAuthentication.NotYet)
                return new CheckoutOutcome(false, null, null, NeedsAuthentication: true);
            if (threeDSecure && authentication == CardAuthentication.Failed)
                return new CheckoutOutcome(false, null, AuthenticationFailedMessage);
            var customerId = Ref(session["customer"])!;
            var customer = await tx.GetAsync(customerId, "customer");
            var seti = StripeShapes.SetupIntent(Ids.New("seti_"), tx.Now);
            seti["customer"] = customerId;
            await tx.PutAsync(seti);
            await tx.EmitAsync("setup_intent.created", seti);
            var pm = await CreatePaymentMethodAsync(tx, card, new JsonObject { ["email"] = customer["email"]?.DeepClone() });
            pm = await AttachPaymentMethodAsync(tx, pm["id"]!.GetValue<string>(), customerId);
            if (threeDSecure)
            {
                tx.AuthenticatedPaymentMethod = pm["id"]!.GetValue<string>();
                await MarkSetUpForOffSessionAsync(tx, pm);
            }
            seti["payment_method"] = pm["id"]!.GetValue<string>();
            seti["status"] = "succeeded";
            seti["latest_attempt"] = "setatt_" + Ids.Random(24);
            await tx.PutAsync(seti);
            await tx.EmitAsync("setup_intent.succeeded", seti);
            var form = new JsonObject { ["invoice_settings"] = new JsonObject { ["default_payment_method"] = pm["id"]!.GetValue<string>() } };
            await UpdateCustomerAsync(tx, customerId, new FormParams(form));
            foreach (var sub in await tx.ListAsync("subscription", customerId))
                if (sub["status"]!.GetValue<string>() != "canceled")
                {
                    await UpdateSubscriptionAsync(tx, sub["id"]!.GetValue<string>(), new FormParams(new JsonObject { ["default_payment_method"] = pm["id"]!.GetValue<string>() }));
                    await RetryPastDueAsync(tx, sub["id"]!.GetValue<string>(), pm["id"]!.GetValue<string>());
                }
            return new CheckoutOutcome(true, null, null);
        });

    /// <summary>The portal's "cancel plan" (at the end of the period) and "renew plan" (undo that).</summary>
    public Task PortalSetCancelAtPeriodEndAsync(string portalSessionId, string subscriptionId, bool cancel) =>
        WriteAsync(null, async tx =>
        {
            var session = await tx.GetAsync(portalSessionId, "billing_portal.session");
            var sub = await tx.GetAsync(subscriptionId, "subscription");
            if (Ref(sub["customer"]) != Ref(session["customer"]))
                throw StripeApiException.Missing("subscription", subscriptionId);
            return await UpdateSubscriptionAsync(tx, subscriptionId, new FormParams(new JsonObject { ["cancel_at_period_end"] = cancel ? "true" : "false" }));
        });

    private const string SelectEvents = """
        SELECT json FROM events
        WHERE (@type IS NULL OR type = @type OR (@prefix IS NOT NULL AND type LIKE @prefix))
          AND created >= @from AND created <= @to
        ORDER BY seq DESC;
        """;

    internal static async Task<List<JsonObject>> ListEventsAsync(EmulatorTx tx, FormParams p)
    {
        var type = p.Str("type");
        // Stripe accepts one wildcard at the end of the type filter: "customer.subscription.*".
        var prefix = type is not null && type.EndsWith('*') ? type[..^1] + "%" : null;
        var created = p.Obj("created");
        long from = long.MinValue, to = long.MaxValue;
        if (created is not null)
        {
            if (FormParams.Long(created, "gte") is { } gte) from = gte;
            if (FormParams.Long(created, "gt") is { } gt) from = gt + 1;
            if (FormParams.Long(created, "lte") is { } lte) to = lte;
            if (FormParams.Long(created, "lt") is { } lt) to = lt - 1;
        }
        else if (p.Long("created") is { } exact)
            (from, to) = (exact, exact);
        var rows = await Dapper.SqlMapper.QueryAsync<string>(tx.Connection, SelectEvents, new { type = prefix is null ? type : "\0", prefix, from, to }, tx.Transaction);
        var events = rows.Select(j => JsonNode.Parse(j)!.AsObject());
        var types = p.Strings("types");
        if (types.Count > 0) events = events.Where(e => types.Contains(e["type"]!.GetValue<string>()));
        return events.ToList();
    }

    private const string SelectEvent = "SELECT json FROM events WHERE id = @id;";

    internal static async Task<JsonObject> GetEventAsync(EmulatorTx tx, string id)
    {
        var json = await Dapper.SqlMapper.QuerySingleOrDefaultAsync<string>(tx.Connection, SelectEvent, new { id }, tx.Transaction);
        return json is null ? throw StripeApiException.Missing("event", id) : JsonNode.Parse(json)!.AsObject();
    }
}

/// <summary>Customer portal configurations (<c>/v1/billing_portal/configurations</c>) as Stripe documents them.</summary>
public sealed partial class EmulatedStripe
{
    internal static async Task<JsonObject> CreatePortalConfigurationAsync(EmulatorTx tx, FormParams p)
    {
        var features = p.Obj("features") ?? throw StripeApiException.MissingParam("features");
        var configuration = StripeShapes.PortalConfiguration(Ids.New("bpc_"), tx.Now);
        ApplyPortalConfigurationParams(configuration, p, features);
        await tx.PutAsync(configuration);
        await tx.EmitAsync("billing_portal.configuration.created", configuration);
        return configuration;
    }

    internal static async Task<JsonObject> UpdatePortalConfigurationAsync(EmulatorTx tx, string id, FormParams p)
    {
        var configuration = await tx.GetAsync(id, "billing_portal.configuration");
        var before = configuration.DeepClone().AsObject();
        ApplyPortalConfigurationParams(configuration, p, p.Obj("features"));
        if (p.Has("active")) configuration["active"] = p.Bool("active");
        if (JsonNode.DeepEquals(before, configuration)) return configuration;
        configuration["updated"] = tx.Now;
        await tx.PutAsync(configuration);
        await tx.EmitAsync("billing_portal.configuration.updated", configuration, before);
        return configuration;
    }

    internal static IEnumerable<JsonObject> FilterPortalConfigurations(IEnumerable<JsonObject> all, FormParams p)
    {
        if (p.Bool("active") is { } active) all = all.Where(c => c["active"]!.GetValue<bool>() == active);
        if (p.Bool("is_default") is { } isDefault) all = all.Where(c => c["is_default"]!.GetValue<bool>() == isDefault);
        return all;
    }

    private static void ApplyPortalConfigurationParams(JsonObject configuration, FormParams p, JsonObject? features)
    {
        if (features is not null)
            MergeForm(configuration["features"]!.AsObject(), features, "features");
        if (p.Obj("business_profile") is { } profile)
            MergeForm(configuration["business_profile"]!.AsObject(), profile, "business_profile");
        if (p.Has("default_return_url")) configuration["default_return_url"] = p.Str("default_return_url") is { Length: > 0 } u ? u : null;
        if (p.Has("name")) configuration["name"] = p.Str("name") is { Length: > 0 } n ? n : null;
        FormParams.MergeMetadata(configuration, p.Obj("metadata"));
        var cancel = configuration["features"]!["subscription_cancel"]!;
        if (cancel["mode"]?.GetValue<string>() is not ("at_period_end" or "immediately"))
            throw StripeApiException.Invalid("Invalid features[subscription_cancel][mode]: must be one of immediately or at_period_end", "features[subscription_cancel][mode]");
    }

    /// <summary>Form values onto the object's own shape: booleans where it has booleans, nested objects merged, unknown fields refused.</summary>
    private static void MergeForm(JsonObject target, JsonObject form, string path)
    {
        foreach (var (key, value) in form)
        {
            var name = $"{path}[{key}]";
            if (!target.ContainsKey(key))
                throw new StripeApiException(400, "invalid_request_error", $"Received unknown parameter: {name}", "parameter_unknown", name);
            switch (target[key])
            {
                case JsonObject nested when value is JsonObject given:
                    MergeForm(nested, given, name);
                    break;
                case JsonValue existing when existing.GetValueKind() is System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False:
                    target[key] = value?.ToString() switch
                    {
                        "true" => true,
                        "false" => false,
                        _ => throw StripeApiException.Invalid($"Invalid boolean: {value}", name),
                    };
                    break;
                default:
                    target[key] = value?.DeepClone();
                    break;
            }
        }
    }
}
