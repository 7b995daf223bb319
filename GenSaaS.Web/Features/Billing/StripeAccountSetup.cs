using GenSaaS.Web.Features.Billing.Webhooks;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Features.Plans;
using GenSaaS.Web.Features.Shared;
using Stripe;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// What the Stripe account needs besides prices: the webhook endpoint (this app's URL, exactly the events it handles,
/// the API version Stripe.net pins) with its secret kept in <c>billing_settings</c>, and a customer portal configuration.
/// <see cref="SyncAsync"/> makes it so; <see cref="CheckAsync"/> only looks.
/// </summary>
public sealed class StripeAccountSetup(
    StripeGateway stripe,
    BillingSettings settings,
    BillingModeInfo mode,
    PlanCatalog plans,
    IConfiguration configuration,
    Microsoft.Extensions.Options.IOptions<BillingOptions> options)
{
    public const string WebhookPath = "/api/billing/webhook";

    /// <summary>The events the endpoint is registered for, sorted: exactly those the app applies.</summary>
    public static IReadOnlyList<string> WantedEvents { get; } = [.. StripeEventApplier.HandledEvents.Order(StringComparer.Ordinal)];

    /// <summary>Where Stripe must send events: <c>App:PublicBaseUrl</c> + the webhook route; null when no public address is set.</summary>
    public string? WebhookUrl => PublicAddress.Normalize(configuration["App:PublicBaseUrl"]) is { } baseUrl ? baseUrl + WebhookPath : null;

    private static bool SameEvents(IEnumerable<string>? events) =>
        events is not null && events.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).SequenceEqual(WantedEvents, StringComparer.Ordinal);

    /// <summary>Creates or fixes the webhook endpoint and the portal configuration; returns false when it could not.</summary>
    public async Task<bool> SyncAsync(TextWriter output, CancellationToken ct)
    {
        var ok = await SyncWebhookEndpointAsync(output, ct);
        await SyncPortalConfigurationAsync(output, ct);
        return ok;
    }

    private async Task<bool> SyncWebhookEndpointAsync(TextWriter output, CancellationToken ct)
    {
        if (WebhookUrl is not { } url)
        {
            await output.WriteLineAsync("webhook: App:PublicBaseUrl is not set; set it to the public https address so Stripe can reach " + WebhookPath);
            return false;
        }
        var storedId = await settings.GetAsync(BillingSettings.WebhookEndpointIdKey, ct);
        var storedSecret = await settings.GetAsync(BillingSettings.WebhookSecretKey, ct);
        var endpoints = (await stripe.ListWebhookEndpointsAsync(ct)).Data.Where(e => e.Url == url).ToList();
        var endpoint = endpoints.FirstOrDefault(e => e.Id == storedId) ?? endpoints.FirstOrDefault();
        if (endpoint is not null)
        {
            var secretKnown = endpoint.Id == storedId && storedSecret is not null || mode.Mode == BillingMode.Stripe && ConfiguredSecret() is not null;
            // Stripe fixes an endpoint's API version at creation and shows its secret only then: either wrong means a new endpoint.
            string? replace = endpoint.ApiVersion != StripeConfiguration.ApiVersion ? $"its API version is {endpoint.ApiVersion ?? "the account default"}, not {StripeConfiguration.ApiVersion}"
                : !secretKnown ? "its signing secret is not known to this app" : null;
            if (replace is not null)
            {
                await stripe.DeleteWebhookEndpointAsync(endpoint.Id, ct);
                await output.WriteLineAsync($"webhook: deleted endpoint {endpoint.Id} ({replace})");
                endpoint = null;
            }
        }
        if (endpoint is null)
        {
            var created = await stripe.CreateWebhookEndpointAsync(url, WantedEvents, ct);
            await settings.SetAsync(new Dictionary<string, string>
            {
                [BillingSettings.WebhookEndpointIdKey] = created.Id,
                [BillingSettings.WebhookSecretKey] = created.Secret,
            }, ct);
            mode.StoredWebhookSecret = created.Secret;
            await output.WriteLineAsync($"webhook: created endpoint {created.Id} for {url} ({WantedEvents.Count} events, API version {created.ApiVersion}); its signing secret is stored");
        }
        else if (!SameEvents(endpoint.EnabledEvents) || endpoint.Status != "enabled")
        {
            await stripe.UpdateWebhookEndpointAsync(endpoint.Id, WantedEvents, ct);
            await output.WriteLineAsync($"webhook: updated endpoint {endpoint.Id}: enabled, listening to exactly the {WantedEvents.Count} events the app handles");
        }
        else
        {
            await output.WriteLineAsync($"webhook: endpoint {endpoint.Id} for {url} is right; nothing changed");
        }
        foreach (var extra in endpoints.Where(e => e.Id != endpoint?.Id && e.Url == url))
            await output.WriteLineAsync($"warning: webhook endpoint {extra.Id} also points at {url}; events would be applied twice as fast but once each. Delete it in the Stripe Dashboard.");
        return true;
    }

    private string? ConfiguredSecret() =>
        PublicAddress.Normalize(configuration["Billing:WebhookSecret"]) ?? PublicAddress.Normalize(Environment.GetEnvironmentVariable("STRIPE_WEBHOOK_SECRET"));

    private static bool PortalRight(Stripe.BillingPortal.Configuration c) =>
        c.Active
        && c.Features?.SubscriptionCancel is { Enabled: true, Mode: "at_period_end" }
        && c.Features.PaymentMethodUpdate is { Enabled: true }
        && c.Features.InvoiceHistory is { Enabled: true };

    private async Task<Stripe.BillingPortal.Configuration?> FindPortalConfigurationAsync(CancellationToken ct)
    {
        var storedId = await settings.GetAsync(BillingSettings.PortalConfigurationIdKey, ct);
        var all = (await stripe.ListPortalConfigurationsAsync(ct)).Data;
        return all.FirstOrDefault(c => c.Id == storedId) ?? all.FirstOrDefault(c => c.Metadata?.GetValueOrDefault("app") == "gensaas");
    }

    private async Task SyncPortalConfigurationAsync(TextWriter output, CancellationToken ct)
    {
        var found = await FindPortalConfigurationAsync(ct);
        if (found is null)
        {
            found = await stripe.CreatePortalConfigurationAsync(ct);
            await output.WriteLineAsync($"portal: created configuration {found.Id} (cancel at period end, update payment method, invoice history)");
        }
        else if (!PortalRight(found))
        {
            found = await stripe.UpdatePortalConfigurationAsync(found.Id, ct);
            await output.WriteLineAsync($"portal: updated configuration {found.Id} (cancel at period end, update payment method, invoice history)");
        }
        else
        {
            await output.WriteLineAsync($"portal: configuration {found.Id} is right; nothing changed");
        }
        await settings.SetAsync(new Dictionary<string, string> { [BillingSettings.PortalConfigurationIdKey] = found.Id }, ct);
    }

    /// <summary>Checks the account without changing it: one line per check, OK or FAIL with how to fix it. True when all pass.</summary>
    public async Task<bool> CheckAsync(TextWriter output, CancellationToken ct)
    {
        var failures = 0;
        async Task Report(bool ok, string what, string fix)
        {
            if (!ok) failures++;
            await output.WriteLineAsync(ok ? $"OK   {what}" : $"FAIL {what}: {fix}");
        }

        var key = mode.SecretKey ?? "";
        var keyLive = key.StartsWith("sk_live_", StringComparison.Ordinal) || key.StartsWith("rk_live_", StringComparison.Ordinal);
        var keyTest = key.StartsWith("sk_test_", StringComparison.Ordinal) || key.StartsWith("rk_test_", StringComparison.Ordinal);
        await Report(keyLive || keyTest, $"secret key is a {(keyLive ? "live" : keyTest ? "test" : "unknown")} mode key{(mode.IsEmulator ? " (emulator)" : "")}",
            "set Billing:SecretKey (or STRIPE_SECRET_KEY) to a key from the Stripe Dashboard, sk_live_/rk_live_ to go live, sk_test_/rk_test_ to test");

        StripeList<WebhookEndpoint> endpoints;
        try
        {
            endpoints = await stripe.ListWebhookEndpointsAsync(ct);
            await Report(true, "Stripe accepts the secret key", "");
        }
        catch (StripeException ex)
        {
            await Report(false, "Stripe accepts the secret key", $"Stripe answered {(int)ex.HttpStatusCode}: {ex.Message}");
            return false;
        }

        var prices = new List<Price>();
        foreach (var (planKey, plan) in plans.Plans.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var price = await stripe.FindPriceAsync(planKey, ct);
            if (price is not null) prices.Add(price);
            var interval = plan.Kind == PlanKind.Subscription ? "month" : null;
            var expected = $"{plan.PriceMinor} {plan.Currency}{(interval is null ? "" : " a " + interval)}";
            if (price is null)
            {
                await Report(false, $"price {planKey}", $"no active price with lookup key '{planKey}'; run 'GenSaaS.Web stripe sync'");
                continue;
            }
            var right = price.UnitAmount == plan.PriceMinor && string.Equals(price.Currency, plan.Currency, StringComparison.OrdinalIgnoreCase)
                && price.Recurring?.Interval == interval;
            await Report(right, $"price {planKey} ({price.Id}) is {expected}",
                $"Stripe has {price.UnitAmount} {price.Currency}{(price.Recurring is null ? "" : " a " + price.Recurring.Interval)}; create a new price with lookup key '{planKey}' (transfer_lookup_key) or change Billing:Plans:{planKey}");
            await Report(price.Livemode == keyLive, $"price {planKey} is in {(price.Livemode ? "live" : "test")} mode like the key",
                "use the key of the mode the prices were made in, or run 'GenSaaS.Web stripe sync' with this key");
        }

        var url = WebhookUrl;
        await Report(url is not null, $"public webhook URL is {url ?? "(none)"}", "set App:PublicBaseUrl to the public https address");
        var endpoint = endpoints.Data.FirstOrDefault(e => e.Url == url);
        if (endpoint is null)
            await Report(false, "webhook endpoint", $"no endpoint for {url}; run 'GenSaaS.Web stripe sync'");
        else
        {
            await Report(endpoint.Status == "enabled", $"webhook endpoint {endpoint.Id} is enabled", "run 'GenSaaS.Web stripe sync' (or enable it in the Dashboard)");
            await Report(SameEvents(endpoint.EnabledEvents), $"webhook endpoint {endpoint.Id} listens to exactly the {WantedEvents.Count} events the app handles",
                $"it listens to {string.Join(", ", endpoint.EnabledEvents ?? [])}; run 'GenSaaS.Web stripe sync'");
            await Report(endpoint.ApiVersion == StripeConfiguration.ApiVersion, $"webhook endpoint {endpoint.Id} renders events in API version {StripeConfiguration.ApiVersion}",
                $"it uses {endpoint.ApiVersion ?? "the account default"}; run 'GenSaaS.Web stripe sync' (it replaces the endpoint)");
            var storedId = await settings.GetAsync(BillingSettings.WebhookEndpointIdKey, ct);
            var storedSecret = await settings.GetAsync(BillingSettings.WebhookSecretKey, ct);
            var secretOk = mode.Mode == BillingMode.Stripe && ConfiguredSecret() is not null
                || storedId == endpoint.Id && storedSecret is not null && (mode.WebhookSecrets.Contains(storedSecret) || mode.Mode == BillingMode.Stripe);
            await Report(secretOk, $"the app has the signing secret of webhook endpoint {endpoint.Id}",
                storedId == endpoint.Id ? "restart the app so it reads the stored secret" : "run 'GenSaaS.Web stripe sync' (or set Billing:WebhookSecret to the endpoint's secret)");
        }

        var portal = await FindPortalConfigurationAsync(ct);
        await Report(portal is not null && PortalRight(portal), $"portal configuration {portal?.Id ?? "(none)"} allows cancel at period end, card update and invoice history",
            "run 'GenSaaS.Web stripe sync'");

        // Tax settings are the merchant's legal settings: sync never changes them, doctor only says where they stand.
        if (options.Value.Tax)
        {
            Stripe.Tax.Settings? tax = null;
            string? unreadable = null;
            try
            {
                tax = await stripe.GetTaxSettingsAsync(ct);
            }
            catch (StripeException ex)
            {
                unreadable = $"Stripe answered {(int)ex.HttpStatusCode}: {ex.Message}";
            }
            var missing = tax?.StatusDetails?.Pending?.MissingFields is { Count: > 0 } fields ? $" (missing: {string.Join(", ", fields)})" : "";
            await Report(tax?.Status == "active", $"stripe tax: {tax?.Status ?? "unknown"}",
                unreadable ?? $"Billing:Tax is on, so Stripe refuses every Checkout Session until Stripe Tax is active{missing}; "
                + "set the head office address in the Stripe Dashboard > Settings > Tax (and your tax registrations), or turn Billing:Tax off");
            if (tax?.Status == "active")
            {
                // A price without tax behaviour takes the settings' default; with neither, Stripe cannot tell whether tax is added on top.
                var behavior = tax.Defaults?.TaxBehavior;
                var undecided = prices.Where(p => p.TaxBehavior is null or "unspecified").Select(p => p.LookupKey ?? p.Id).ToList();
                await Report(behavior is not null || undecided.Count == 0,
                    $"stripe tax: default tax behavior is {behavior ?? "not set"}{(behavior is null && undecided.Count == 0 ? " (every price sets its own)" : "")}",
                    $"the prices {string.Join(", ", undecided)} have no tax behavior and the tax settings no default, so Stripe cannot tell whether tax is added to the price; "
                    + "choose inclusive or exclusive in the Stripe Dashboard > Settings > Tax (default tax behavior)");
            }
        }
        else
        {
            await output.WriteLineAsync("OK   stripe tax: not configured (Billing:Tax is off; Checkout collects no tax)");
        }

        await output.WriteLineAsync(failures == 0 ? "Stripe account is ready." : $"{failures} check(s) failed.");
        return failures == 0;
    }
}

/// <summary><c>GenSaaS.Web stripe doctor</c>: checks the Stripe account the app is configured for, changing nothing.</summary>
public sealed class StripeDoctorCommand(StripeAccountSetup setup, BillingModeInfo mode) : ICliCommand
{
    public string Name => "stripe doctor";

    public string Usage => "stripe doctor  check keys, prices, webhook endpoint, portal and Stripe Tax of the Stripe account (exit 1 on any failure)";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        if (!mode.IsEnabled)
        {
            await output.WriteLineAsync("FAIL billing is disabled: set Billing:SecretKey (or STRIPE_SECRET_KEY).");
            return 1;
        }
        return await setup.CheckAsync(output, ct) ? 0 : 1;
    }
}
