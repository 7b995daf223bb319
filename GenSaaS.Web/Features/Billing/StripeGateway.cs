using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Features.Plans;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using Stripe;
using Stripe.Checkout;

namespace GenSaaS.Web.Features.Billing;

/// <summary>Billing is off in this process: checkout, webhooks and pay per use answer <c>billing_disabled</c>.</summary>
public sealed class BillingDisabledException() : Exception("Billing is not configured on this server.");

/// <summary>
/// Every call this app makes to Stripe, through Stripe.net. In Emulator mode the same client talks to the in-app
/// emulator over HTTP, so what works there is what Stripe.net sends and parses against Stripe.
/// Never call it inside an open database transaction.
/// </summary>
public sealed class StripeGateway(BillingModeInfo mode, IOptions<BillingOptions> options, IServer server, BillingSettings settings, AppMetrics metrics, ILogger<StripeGateway> logger)
{
    private readonly Lazy<StripeClient> _client = new(() => CreateClient(mode, options.Value, server, metrics));

    private StripeClient Client => mode.IsEnabled ? _client.Value : throw new BillingDisabledException();

    /// <summary>The secret webhooks are signed with: configured for Stripe, published into configuration at start by the emulator.</summary>
    public string WebhookSecret => mode.IsEnabled
        ? mode.WebhookSecret ?? throw new InvalidOperationException($"Billing mode {mode.Mode} has no webhook secret.")
        : throw new BillingDisabledException();

    /// <summary>Every secret a webhook signature may be made with (see <see cref="BillingModeInfo.WebhookSecrets"/>).</summary>
    public IReadOnlyList<string> WebhookSecrets => mode.IsEnabled ? mode.WebhookSecrets : throw new BillingDisabledException();

    private static StripeClient CreateClient(BillingModeInfo mode, BillingOptions options, IServer server, AppMetrics metrics)
    {
        // One HTTP client for the process: a short timeout, and Stripe.net's own retries (back-off, same idempotency key).
        // Each try is counted and timed (gensaas_stripe_requests_total).
        var http = new SystemNetHttpClient(
            new HttpClient(new StripeCallMetricsHandler(metrics)) { Timeout = TimeSpan.FromSeconds(options.Stripe.RequestTimeoutSeconds) },
            maxNetworkRetries: options.Stripe.MaxNetworkRetries);
        if (mode.Mode == BillingMode.Stripe)
            return new StripeClient(mode.SecretKey, httpClient: http);
        var appBase = options.EmulatorBaseUrl is { Length: > 0 } configured ? configured : LocalAddress(server);
        // The emulator accepts only its own key (configured, or generated and kept in its database).
        var emulatorKey = mode.SecretKey ?? throw new InvalidOperationException("The Stripe emulator published no secret key (Billing:Emulator:SecretKey).");
        return new StripeClient(emulatorKey, httpClient: http, apiBase: appBase.TrimEnd('/') + "/emulator/stripe");
    }

    /// <summary>The emulator is served by this process; reach it on the address Kestrel listens on.</summary>
    private static string LocalAddress(IServer server)
    {
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("The Stripe emulator needs the app to listen on an address (or Billing:EmulatorBaseUrl).");
        return address.Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://[::]", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://+", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://*", "://127.0.0.1", StringComparison.Ordinal);
    }

    private static RequestOptions Idempotent(string key) => new() { IdempotencyKey = key };

    public Task<Customer> CreateCustomerAsync(string userId, string email, CancellationToken ct) =>
        new CustomerService(Client).CreateAsync(new CustomerCreateOptions
        {
            Email = email,
            Metadata = new Dictionary<string, string> { ["user_id"] = userId },
        }, Idempotent($"customer:{userId}"), ct);

    public Task<Customer> SetDefaultPaymentMethodAsync(string customerId, string paymentMethodId, CancellationToken ct) =>
        new CustomerService(Client).UpdateAsync(customerId, new CustomerUpdateOptions
        {
            InvoiceSettings = new CustomerInvoiceSettingsOptions { DefaultPaymentMethod = paymentMethodId },
        }, Idempotent($"default-pm:{customerId}:{paymentMethodId}"), ct);

    /// <summary>The customer with their default card (<c>invoice_settings.default_payment_method</c>) expanded.</summary>
    public Task<Customer> GetCustomerWithDefaultCardAsync(string customerId, CancellationToken ct) =>
        new CustomerService(Client).GetAsync(customerId, new CustomerGetOptions { Expand = ["invoice_settings.default_payment_method"] }, cancellationToken: ct);

    public Task<PaymentMethod> GetPaymentMethodAsync(string id, CancellationToken ct) => new PaymentMethodService(Client).GetAsync(id, cancellationToken: ct);

    public Task<SetupIntent> GetSetupIntentAsync(string id, CancellationToken ct) => new SetupIntentService(Client).GetAsync(id, cancellationToken: ct);

    public Task<Subscription> GetSubscriptionAsync(string id, CancellationToken ct) => new SubscriptionService(Client).GetAsync(id, cancellationToken: ct);

    /// <summary>The customer's subscriptions that are not canceled (Stripe's default list), up to 100.</summary>
    public Task<StripeList<Subscription>> ListSubscriptionsAsync(string customerId, CancellationToken ct) =>
        new SubscriptionService(Client).ListAsync(new SubscriptionListOptions { Customer = customerId, Limit = 100 }, cancellationToken: ct);

    /// <summary>
    /// Cancels a subscription at once. No proration credit and no final invoice (Stripe's defaults, stated): the app refunds
    /// the duplicate's payment in full itself, so a proration credit would pay the customer twice.
    /// </summary>
    public Task<Subscription> CancelSubscriptionNowAsync(string id, string comment, CancellationToken ct) =>
        new SubscriptionService(Client).CancelAsync(id, new SubscriptionCancelOptions
        {
            InvoiceNow = false,
            Prorate = false,
            CancellationDetails = new SubscriptionCancellationDetailsOptions { Comment = comment },
        }, Idempotent($"cancel-subscription:{id}"), ct);

    /// <summary>
    /// Sets or clears <c>cancel_at_period_end</c>: the plan ends when its paid period does, or goes on renewing. No proration and
    /// no refund either way (Stripe changes nothing else). <paramref name="requestId"/> names the customer's one confirmation
    /// (a form's nonce, an API caller's Idempotency-Key), so a double submit and Stripe.net's retries make one change.
    /// </summary>
    public Task<Subscription> SetCancelAtPeriodEndAsync(string id, bool cancel, string requestId, CancellationToken ct) =>
        new SubscriptionService(Client).UpdateAsync(id, new SubscriptionUpdateOptions { CancelAtPeriodEnd = cancel },
            Idempotent(CancelAtPeriodEndKey(id, cancel, requestId)), ct);

    public static string CancelAtPeriodEndKey(string subscriptionId, bool cancel, string requestId) =>
        $"subscription:{subscriptionId}:{(cancel ? "cancel" : "resume")}:{requestId}";

    /// <summary>True when Stripe answered from its idempotency store (<c>Idempotent-Replayed: true</c>) instead of doing the call now.</summary>
    public static bool WasReplayed(IStripeEntity entity) =>
        entity.StripeResponse?.Headers is { } headers
        && headers.TryGetValues("Idempotent-Replayed", out var values) && values.Contains("true", StringComparer.OrdinalIgnoreCase);

    /// <summary>The payments of an invoice (an invoice no longer names its charge; this maps it to the PaymentIntent).</summary>
    public Task<StripeList<InvoicePayment>> ListInvoicePaymentsAsync(string invoiceId, CancellationToken ct) =>
        new InvoicePaymentService(Client).ListAsync(new InvoicePaymentListOptions { Invoice = invoiceId, Limit = 100 }, cancellationToken: ct);

    public Task<Session> GetCheckoutSessionAsync(string id, CancellationToken ct) => new SessionService(Client).GetAsync(id, cancellationToken: ct);

    /// <summary>Expires an open Checkout Session so it can no longer be paid; Stripe refuses (invalid_request_error) one that is not open.</summary>
    public Task<Session> ExpireCheckoutSessionAsync(string id, CancellationToken ct) => new SessionService(Client).ExpireAsync(id, null, Idempotent($"expire:{id}"), ct);

    public Task<Charge> GetChargeAsync(string id, CancellationToken ct) => new ChargeService(Client).GetAsync(id, cancellationToken: ct);

    public Task<Invoice> GetInvoiceAsync(string id, CancellationToken ct) => new InvoiceService(Client).GetAsync(id, cancellationToken: ct);

    /// <summary>
    /// The object an event is about, read now at the API version Stripe.net pins, by its <c>object</c> name; null for a kind
    /// this app never reads. Used for events rendered in another API version, whose own copy Stripe.net may misread.
    /// </summary>
    public async Task<IHasObject?> GetObjectAsync(string objectType, string id, CancellationToken ct) => objectType switch
    {
        "checkout.session" => await GetCheckoutSessionAsync(id, ct),
        "subscription" => await GetSubscriptionAsync(id, ct),
        "invoice" => await new InvoiceService(Client).GetAsync(id, cancellationToken: ct),
        "payment_intent" => await GetPaymentIntentAsync(id, ct),
        "charge" => await GetChargeAsync(id, ct),
        "refund" => await new RefundService(Client).GetAsync(id, cancellationToken: ct),
        "customer" => await new CustomerService(Client).GetAsync(id, cancellationToken: ct),
        "setup_intent" => await GetSetupIntentAsync(id, ct),
        "payment_method" => await GetPaymentMethodAsync(id, ct),
        _ => null,
    };

    /// <summary>
    /// A portal session for one click, in the configuration <c>stripe sync</c> made (Stripe's default configuration when
    /// there is none): <paramref name="requestId"/> names the click, so Stripe.net's retries of it open one session.
    /// </summary>
    public async Task<Stripe.BillingPortal.Session> CreatePortalSessionAsync(string customerId, string returnUrl, string requestId, CancellationToken ct)
    {
        var configuration = await settings.GetAsync(BillingSettings.PortalConfigurationIdKey, ct);
        return await new Stripe.BillingPortal.SessionService(Client).CreateAsync(
            new Stripe.BillingPortal.SessionCreateOptions { Customer = customerId, ReturnUrl = returnUrl, Configuration = configuration },
            Idempotent($"portal:{customerId}:{requestId}"), ct);
    }

    public Task<StripeList<WebhookEndpoint>> ListWebhookEndpointsAsync(CancellationToken ct) =>
        new WebhookEndpointService(Client).ListAsync(new WebhookEndpointListOptions { Limit = 100 }, cancellationToken: ct);

    public Task<WebhookEndpoint> CreateWebhookEndpointAsync(string url, IReadOnlyList<string> events, CancellationToken ct) =>
        new WebhookEndpointService(Client).CreateAsync(new WebhookEndpointCreateOptions
        {
            Url = url,
            EnabledEvents = [.. events],
            ApiVersion = StripeConfiguration.ApiVersion,
            Description = "GenSaaS billing (stripe sync)",
        }, Idempotent($"webhook-endpoint:create:{Guid.NewGuid():N}"), ct);

    public Task<WebhookEndpoint> UpdateWebhookEndpointAsync(string id, IReadOnlyList<string> events, CancellationToken ct) =>
        new WebhookEndpointService(Client).UpdateAsync(id, new WebhookEndpointUpdateOptions { EnabledEvents = [.. events], Disabled = false },
            Idempotent($"webhook-endpoint:update:{id}:{Guid.NewGuid():N}"), ct);

    public Task<WebhookEndpoint> DeleteWebhookEndpointAsync(string id, CancellationToken ct) =>
        new WebhookEndpointService(Client).DeleteAsync(id, cancellationToken: ct);

    public Task<StripeList<Stripe.BillingPortal.Configuration>> ListPortalConfigurationsAsync(CancellationToken ct) =>
        new Stripe.BillingPortal.ConfigurationService(Client).ListAsync(new Stripe.BillingPortal.ConfigurationListOptions { Limit = 100 }, cancellationToken: ct);

    public Task<Stripe.BillingPortal.Configuration> GetPortalConfigurationAsync(string id, CancellationToken ct) =>
        new Stripe.BillingPortal.ConfigurationService(Client).GetAsync(id, cancellationToken: ct);

    /// <summary>What the app's customers may do in the portal: cancel at period end, change the card, see their invoices.</summary>
    public static Stripe.BillingPortal.ConfigurationFeaturesOptions PortalFeatures() => new()
    {
        SubscriptionCancel = new Stripe.BillingPortal.ConfigurationFeaturesSubscriptionCancelOptions { Enabled = true, Mode = "at_period_end" },
        PaymentMethodUpdate = new Stripe.BillingPortal.ConfigurationFeaturesPaymentMethodUpdateOptions { Enabled = true },
        InvoiceHistory = new Stripe.BillingPortal.ConfigurationFeaturesInvoiceHistoryOptions { Enabled = true },
    };

    public Task<Stripe.BillingPortal.Configuration> CreatePortalConfigurationAsync(CancellationToken ct) =>
        new Stripe.BillingPortal.ConfigurationService(Client).CreateAsync(new Stripe.BillingPortal.ConfigurationCreateOptions
        {
            Features = PortalFeatures(),
            Metadata = new Dictionary<string, string> { ["app"] = "gensaas" },
        }, Idempotent($"portal-configuration:create:{Guid.NewGuid():N}"), ct);

    public Task<Stripe.BillingPortal.Configuration> UpdatePortalConfigurationAsync(string id, CancellationToken ct) =>
        new Stripe.BillingPortal.ConfigurationService(Client).UpdateAsync(id, new Stripe.BillingPortal.ConfigurationUpdateOptions
        {
            Active = true,
            Features = PortalFeatures(),
        }, Idempotent($"portal-configuration:update:{id}:{Guid.NewGuid():N}"), ct);

    /// <summary>The account's Stripe Tax settings (<c>status</c> is <c>active</c> once Stripe Tax can calculate).</summary>
    public Task<Stripe.Tax.Settings> GetTaxSettingsAsync(CancellationToken ct) =>
        new Stripe.Tax.SettingsService(Client).GetAsync(cancellationToken: ct);

    public Task<Session> CreateCheckoutSessionAsync(SessionCreateOptions create, string idempotencyKey, CancellationToken ct) =>
        new SessionService(Client).CreateAsync(create, Idempotent(idempotencyKey), ct);

    /// <summary>The active price with this lookup key, or null.</summary>
    public async Task<Price?> FindPriceAsync(string lookupKey, CancellationToken ct)
    {
        var prices = await new PriceService(Client).ListAsync(new PriceListOptions { LookupKeys = [lookupKey], Active = true, Limit = 1 }, cancellationToken: ct);
        return prices.Data.FirstOrDefault();
    }

    /// <summary>Products are matched to plans by <c>metadata.plan_key</c>.</summary>
    public async Task<Dictionary<string, Product>> ProductsByPlanKeyAsync(CancellationToken ct)
    {
        var found = new Dictionary<string, Product>(StringComparer.Ordinal);
        var service = new ProductService(Client);
        await foreach (var product in service.ListAutoPagingAsync(new ProductListOptions { Limit = 100 }, cancellationToken: ct))
            if (product.Metadata?.GetValueOrDefault("plan_key") is { Length: > 0 } key && !found.ContainsKey(key))
                found[key] = product;
        return found;
    }

    public Task<Product> CreateProductAsync(string planKey, PlanOptions plan, CancellationToken ct) =>
        new ProductService(Client).CreateAsync(new ProductCreateOptions
        {
            Name = plan.Name,
            Metadata = new Dictionary<string, string> { ["plan_key"] = planKey },
        }, Idempotent($"product:{planKey}"), ct);

    public Task<Price> CreatePriceAsync(string planKey, PlanOptions plan, string productId, CancellationToken ct) =>
        new PriceService(Client).CreateAsync(new PriceCreateOptions
        {
            Product = productId,
            UnitAmount = plan.PriceMinor,
            Currency = plan.Currency,
            LookupKey = planKey,
            Recurring = plan.Kind == PlanKind.Subscription ? new PriceRecurringOptions { Interval = "month" } : null,
            Metadata = new Dictionary<string, string> { ["plan_key"] = planKey },
        }, Idempotent($"price:{planKey}:{plan.PriceMinor}:{plan.Currency}"), ct);

    /// <summary>Places a hold on the saved card, off session. Stripe answers a decline with a <see cref="StripeException"/>.</summary>
    public Task<PaymentIntent> AuthorizeAsync(string usageId, string customerId, string paymentMethodId, long amountMinor, string currency, string userId, CancellationToken ct) =>
        new PaymentIntentService(Client).CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = amountMinor,
            Currency = currency,
            Customer = customerId,
            PaymentMethod = paymentMethodId,
            CaptureMethod = "manual",
            // Card only: nothing that could redirect, so an off-session confirm never needs a return_url; a card that
            // wants 3-D Secure is declined authentication_required instead of waiting for a customer who is not there.
            AllowedPaymentMethodTypes = ["card"],
            Confirm = true,
            OffSession = true,
            Description = "GenSaaS generation",
            Metadata = new Dictionary<string, string> { ["usage_id"] = usageId, ["user_id"] = userId, ["plan_key"] = PlanCatalog.PayPerUse },
            // The charge says when Stripe cancels the hold (card.capture_before); the hold watchdog settles it before then.
            Expand = ["latest_charge"],
        }, Idempotent($"authorize:{usageId}"), ct);

    /// <summary>
    /// Captures the hold. The first attempt's key is <c>capture:{usageId}</c> (Stripe.net's own retries reuse it); a later
    /// attempt after a failure takes <c>capture:{usageId}:{attempt}</c>, since Stripe replays a saved error for the old key.
    /// </summary>
    public Task<PaymentIntent> CaptureAsync(string usageId, int attempt, string paymentIntentId, CancellationToken ct) =>
        // The charge comes back with the answer: its receipt link is what the customer's payments page shows.
        new PaymentIntentService(Client).CaptureAsync(paymentIntentId, new PaymentIntentCaptureOptions { Expand = ["latest_charge"] },
            Idempotent(attempt <= 1 ? $"capture:{usageId}" : $"capture:{usageId}:{attempt}"), ct);

    /// <summary>The pay-per-use hold placed for this usage (found by <c>metadata.usage_id</c> among the customer's newest payment intents), or null.</summary>
    public async Task<PaymentIntent?> FindAuthorizationAsync(string customerId, string usageId, CancellationToken ct)
    {
        var service = new PaymentIntentService(Client);
        var seen = 0;
        await foreach (var intent in service.ListAutoPagingAsync(new PaymentIntentListOptions { Customer = customerId, Limit = 100 }, cancellationToken: ct))
        {
            if (intent.Metadata?.GetValueOrDefault("usage_id") == usageId)
                return intent;
            if (++seen >= 500)
                break;
        }
        return null;
    }

    /// <summary>
    /// True when Stripe gave no answer to act on: a timeout, no connection, 409 (a request with the same key in flight),
    /// 429 or a 5xx, after Stripe.net's own retries. Such a call may or may not have happened at Stripe; it is never a decline.
    /// </summary>
    public static bool IsUnavailable(Exception ex, CancellationToken ct) => ex switch
    {
        StripeException stripe => stripe.HttpStatusCode is System.Net.HttpStatusCode.TooManyRequests or System.Net.HttpStatusCode.Conflict || (int)stripe.HttpStatusCode >= 500,
        HttpRequestException => true,
        OperationCanceledException => !ct.IsCancellationRequested,
        _ => false,
    };

    /// <summary>
    /// Buys an auto top-up's bundle on the saved card, off session, confirmed at once and captured automatically: card only, so
    /// nothing can redirect and a card that wants 3-D Secure is declined <c>authentication_required</c>. The key
    /// <c>auto-top-up:{id}</c> makes every retry (ours or Stripe.net's) the same payment.
    /// </summary>
    public Task<PaymentIntent> CreateTopUpAsync(long topUpId, string customerId, string paymentMethodId, long amountMinor, string currency, string userId,
        string planKey, string description, CancellationToken ct) =>
        new PaymentIntentService(Client).CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = amountMinor,
            Currency = currency,
            Customer = customerId,
            PaymentMethod = paymentMethodId,
            AllowedPaymentMethodTypes = ["card"],
            Confirm = true,
            OffSession = true,
            Description = description,
            Metadata = new Dictionary<string, string>
            {
                [AutoTopUpCharges.MetadataKey] = topUpId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["user_id"] = userId,
                ["plan_key"] = planKey,
            },
        }, Idempotent(AutoTopUpKey(topUpId)), ct);

    public static string AutoTopUpKey(long topUpId) => $"auto-top-up:{topUpId.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    public Task<PaymentIntent> CancelTopUpAsync(long topUpId, string paymentIntentId, CancellationToken ct) =>
        new PaymentIntentService(Client).CancelAsync(paymentIntentId, new PaymentIntentCancelOptions { CancellationReason = "abandoned" },
            Idempotent($"cancel-auto-top-up:{topUpId.ToString(System.Globalization.CultureInfo.InvariantCulture)}"), ct);

    public Task<PaymentIntent> CancelAuthorizationAsync(string usageId, string paymentIntentId, CancellationToken ct) =>
        new PaymentIntentService(Client).CancelAsync(paymentIntentId, new PaymentIntentCancelOptions { CancellationReason = "abandoned" }, Idempotent($"cancel:{usageId}"), ct);

    public Task<PaymentIntent> GetPaymentIntentAsync(string id, CancellationToken ct) => new PaymentIntentService(Client).GetAsync(id, cancellationToken: ct);

    /// <summary>The payment intent with its latest charge expanded (the charge's receipt link).</summary>
    public Task<PaymentIntent> GetPaymentIntentWithChargeAsync(string id, CancellationToken ct) =>
        new PaymentIntentService(Client).GetAsync(id, new PaymentIntentGetOptions { Expand = ["latest_charge"] }, cancellationToken: ct);

    /// <summary>The idempotency key of a refund: the same charge, amount and request id refund once, however often they are sent.</summary>
    public static string RefundKey(string chargeId, long? amountMinor, string requestId) =>
        $"refund:{chargeId}:{amountMinor?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "full"}:{requestId}";

    public async Task<Refund> RefundAsync(string chargeId, long? amountMinor, string requestId, CancellationToken ct, string? reason = null)
    {
        var refund = await new RefundService(Client).CreateAsync(new RefundCreateOptions { Charge = chargeId, Amount = amountMinor, Reason = reason },
            Idempotent(RefundKey(chargeId, amountMinor, requestId)), ct);
        logger.LogInformation(BillingLogEvents.RefundCreated, "Refund {RefundId} of {Amount} on charge {ChargeId}", refund.Id, refund.Amount, chargeId);
        return refund;
    }

    private static DateRangeOptions Period(DateTime from, DateTime to) => new() { GreaterThanOrEqual = from, LessThan = to };

    private static async Task<List<T>> AllAsync<T>(IAsyncEnumerable<T> pages, CancellationToken ct)
    {
        var all = new List<T>();
        await foreach (var item in pages.WithCancellation(ct))
            all.Add(item);
        return all;
    }

    /// <summary>Every charge created in [from, to), read 100 at a time (reconciliation).</summary>
    public Task<List<Charge>> ListChargesAsync(DateTime from, DateTime to, CancellationToken ct) =>
        AllAsync(new ChargeService(Client).ListAutoPagingAsync(new ChargeListOptions { Created = Period(from, to), Limit = 100 }, cancellationToken: ct), ct);

    /// <summary>
    /// Refunds a payment intent's charge, fully (<paramref name="amountMinor"/> null: what remains) or in part, with the charge
    /// expanded (its amount and receipt link). <paramref name="idempotencyKey"/> names the one intent (an admin's confirmation
    /// or API key), so a double submit, a replay or Stripe.net's own retry refunds once; the same key with another amount is
    /// refused by Stripe (<c>idempotency_error</c>). <paramref name="metadata"/> goes onto the refund at Stripe (who made it and
    /// why: Stripe's own <c>reason</c> is only an enum, <c>duplicate</c>, <c>fraudulent</c> or <c>requested_by_customer</c>).
    /// </summary>
    public async Task<Refund> RefundPaymentIntentAsync(string paymentIntentId, long? amountMinor, string idempotencyKey, CancellationToken ct,
        Dictionary<string, string>? metadata = null)
    {
        var refund = await new RefundService(Client).CreateAsync(
            new RefundCreateOptions { PaymentIntent = paymentIntentId, Amount = amountMinor, Metadata = metadata, Expand = ["charge"] },
            Idempotent(idempotencyKey), ct);
        logger.LogInformation(BillingLogEvents.RefundCreated, "Refund {RefundId} of {Amount} on payment intent {PaymentIntentId}", refund.Id, refund.Amount, paymentIntentId);
        return refund;
    }

    /// <summary>Every refund created in [from, to).</summary>
    public Task<List<Refund>> ListRefundsCreatedAsync(DateTime from, DateTime to, CancellationToken ct) =>
        AllAsync(new RefundService(Client).ListAutoPagingAsync(new RefundListOptions { Created = Period(from, to), Limit = 100 }, cancellationToken: ct), ct);

    /// <summary>Every paid invoice created in [from, to).</summary>
    public Task<List<Invoice>> ListPaidInvoicesAsync(DateTime from, DateTime to, CancellationToken ct) =>
        AllAsync(new InvoiceService(Client).ListAutoPagingAsync(new InvoiceListOptions { Created = Period(from, to), Status = "paid", Limit = 100 }, cancellationToken: ct), ct);

    /// <summary>Every balance transaction created in [from, to): Stripe's own account of gross, fees and net.</summary>
    public Task<List<BalanceTransaction>> ListBalanceTransactionsAsync(DateTime from, DateTime to, CancellationToken ct) =>
        AllAsync(new BalanceTransactionService(Client).ListAutoPagingAsync(new BalanceTransactionListOptions { Created = Period(from, to), Limit = 100 }, cancellationToken: ct), ct);

    /// <summary>The events of these types created after <paramref name="after"/> (missed-webhook catch-up).</summary>
    public Task<List<Event>> ListEventsSinceAsync(DateTime after, IReadOnlyList<string> types, CancellationToken ct) =>
        AllAsync(new EventService(Client).ListAutoPagingAsync(new EventListOptions
        {
            Created = new DateRangeOptions { GreaterThan = after },
            Types = [.. types],
            Limit = 100,
        }, cancellationToken: ct), ct);

    /// <summary>The invoice payment made by this PaymentIntent, or null when it paid no invoice.</summary>
    public async Task<InvoicePayment?> FindInvoicePaymentAsync(string paymentIntentId, CancellationToken ct) =>
        (await new InvoicePaymentService(Client).ListAsync(new InvoicePaymentListOptions
        {
            Payment = new InvoicePaymentPaymentOptions { Type = "payment_intent", PaymentIntent = paymentIntentId },
            Limit = 1,
        }, cancellationToken: ct)).Data.FirstOrDefault();

    public Task<Refund> GetRefundAsync(string id, CancellationToken ct) => new RefundService(Client).GetAsync(id, cancellationToken: ct);

    public Task<StripeList<Refund>> ListRefundsAsync(string chargeId, CancellationToken ct) =>
        new RefundService(Client).ListAsync(new RefundListOptions { Charge = chargeId, Limit = 100 }, cancellationToken: ct);
}

/// <summary>Named event ids for money events, so they can be filtered in the logs.</summary>
public static class BillingLogEvents
{
    public static readonly EventId CheckoutStarted = new(2001, "CheckoutStarted");
    public static readonly EventId WebhookApplied = new(2002, "WebhookApplied");
    public static readonly EventId WebhookFailed = new(2003, "WebhookFailed");
    public static readonly EventId WebhookRejected = new(2004, "WebhookRejected");
    public static readonly EventId PaymentAuthorized = new(2005, "PaymentAuthorized");
    public static readonly EventId PaymentDeclined = new(2006, "PaymentDeclined");
    public static readonly EventId PaymentCaptured = new(2007, "PaymentCaptured");
    public static readonly EventId AuthorizationCanceled = new(2008, "AuthorizationCanceled");
    public static readonly EventId RefundCreated = new(2009, "RefundCreated");
    public static readonly EventId CreditsGranted = new(2010, "CreditsGranted");
    public static readonly EventId CreditsTakenBack = new(2011, "CreditsTakenBack");
    public static readonly EventId StripeUnavailable = new(2012, "StripeUnavailable");
    public static readonly EventId CaptureFailed = new(2013, "CaptureFailed");
    public static readonly EventId LostAuthorizationFound = new(2014, "LostAuthorizationFound");
    public static readonly EventId HoldAtRisk = new(2015, "HoldAtRisk");
    public static readonly EventId HoldExpired = new(2016, "HoldExpired");
    public static readonly EventId CheckoutFailed = new(2017, "CheckoutFailed");
    public static readonly EventId DuplicateSubscriptionCanceled = new(2018, "DuplicateSubscriptionCanceled");
    public static readonly EventId AutoTopUpFailed = new(2019, "AutoTopUpFailed");
    public static readonly EventId ReconciliationMatched = new(2020, "ReconciliationMatched");
    public static readonly EventId ReconciliationDifferences = new(2021, "ReconciliationDifferences");
    public static readonly EventId ReconciliationFailed = new(2022, "ReconciliationFailed");
    public static readonly EventId MissedEventApplied = new(2023, "MissedEventApplied");
    public static readonly EventId PlanChanged = new(2050, "PlanChanged");
}
