using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Billing;

/// <summary>Who the Stripe gateway talks to: Stripe itself, the in-app emulator, or nobody.</summary>
public enum BillingMode { Stripe, Emulator, Disabled }

/// <summary>The <c>Billing</c> section's Stripe settings; secrets come only from configuration or the environment.</summary>
public sealed class BillingOptions
{
    /// <summary>Stripe, Emulator or Disabled; empty means: Stripe when a secret key is set, Emulator in Development, otherwise Disabled.</summary>
    public BillingMode? Mode { get; set; }

    /// <summary>Stripe secret key (sk_...); <c>STRIPE_SECRET_KEY</c> is read when this is empty.</summary>
    public string? SecretKey { get; set; }

    /// <summary>Stripe publishable key (pk_...), shown to the browser only.</summary>
    public string? PublishableKey { get; set; }

    /// <summary>Webhook signing secret (whsec_...); <c>STRIPE_WEBHOOK_SECRET</c> is read when this is empty.</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>The app's public address used in Checkout success and cancel links; empty means the request's own host.</summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>Emulator mode only: the app's address when the emulator is served by another process (the CLI talking to a running app).</summary>
    public string? EmulatorBaseUrl { get; set; }

    /// <summary>
    /// The payment method types Checkout offers for bundles and the monthly plan (<c>allowed_payment_method_types</c>); empty
    /// means card only. Delayed ones (sepa_debit, us_bank_account, …) complete later: nothing is granted until Stripe says paid.
    /// </summary>
    public List<string>? PaymentMethodTypes { get; set; }

    /// <summary><see cref="PaymentMethodTypes"/> as Checkout is sent them: card when none are configured.</summary>
    public List<string> CheckoutPaymentMethodTypes => PaymentMethodTypes is { Count: > 0 } configured
        ? configured.Select(t => t.Trim()).Distinct(StringComparer.Ordinal).ToList()
        : ["card"];

    /// <summary>The values Stripe accepts in a Checkout Session's <c>allowed_payment_method_types</c> (Stripe.net 53.1.0, API 2026-10-28.endive).</summary>
    public static readonly IReadOnlySet<string> StripeCheckoutPaymentMethodTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "acss_debit", "affirm", "afterpay_clearpay", "alipay", "alma", "amazon_pay", "au_becs_debit", "bacs_debit", "bancontact",
        "billie", "bizum", "blik", "boleto", "card", "cashapp", "crypto", "customer_balance", "eps", "fpx", "giropay", "grabpay",
        "ideal", "kakao_pay", "klarna", "konbini", "kr_card", "link", "mb_way", "mobilepay", "multibanco", "naver_pay",
        "nz_bank_account", "oxxo", "p24", "pay_by_bank", "payco", "paynow", "paypal", "paypay", "payto", "pix", "promptpay",
        "revolut_pay", "samsung_pay", "satispay", "scalapay", "sepa_debit", "sequra", "sofort", "sunbit", "swish", "twint", "upi",
        "us_bank_account", "wechat_pay", "zip",
    };

    /// <summary>Seconds a webhook signature stays valid (Stripe's default tolerance is 300).</summary>
    [Range(1, 3600)] public int WebhookToleranceSeconds { get; set; } = 300;

    /// <summary>Emulator mode only: the emulator's keys, configured or published by the emulator at start.</summary>
    public EmulatorKeys Emulator { get; set; } = new();

    /// <summary>
    /// <c>Billing:Tax</c>: Stripe Tax on every Checkout Session that takes a payment (bundles, the monthly plan): <c>automatic_tax</c>, a required
    /// billing address saved onto the customer, tax ID collection. Stripe refuses those sessions until Stripe Tax is active on
    /// the account (<c>stripe doctor</c> checks it). Pay-per-use charges are not taxed by Stripe Tax (docs/billing.md).
    /// </summary>
    public bool Tax { get; set; }

    /// <summary>How the one Stripe client behaves on the network (timeout, retries).</summary>
    public StripeClientOptions Stripe { get; set; } = new();
}

/// <summary><c>Billing:Stripe</c>: the Stripe client's timeout and retries, the same in Stripe and Emulator mode.</summary>
public sealed class StripeClientOptions
{
    /// <summary>Seconds one HTTP request to Stripe may take before it is abandoned (and retried); short, since customers wait on some calls.</summary>
    [Range(1, 80)] public int RequestTimeoutSeconds { get; set; } = 10;

    /// <summary>How often Stripe.net retries a request that timed out, failed to connect, or got a 5xx/409 or a 429 Stripe marks retryable, with back-off and the same idempotency key.</summary>
    [Range(0, 10)] public int MaxNetworkRetries { get; set; } = 3;
}

/// <summary>The keys of <c>Billing:Emulator</c> that a client of the emulator needs; the rest of that section is the emulator's own.</summary>
public sealed class EmulatorKeys
{
    /// <summary>The only key the emulator's API accepts (sk_test_...).</summary>
    public string? SecretKey { get; set; }

    /// <summary>The secret the emulator signs webhooks with (whsec_...).</summary>
    public string? WebhookSecret { get; set; }
}

/// <summary>
/// The billing mode this process runs in, decided once at start. Production never falls into the emulator
/// unless <c>Billing:Mode=Emulator</c> is set explicitly, and then every page shows a banner.
/// </summary>
public sealed class BillingModeInfo
{
    public BillingModeInfo(BillingMode mode, bool explicitEmulatorInProduction, string? secretKey, string? webhookSecret)
    {
        Mode = mode;
        ShowEmulatorBanner = explicitEmulatorInProduction;
        SecretKey = secretKey;
        WebhookSecret = webhookSecret;
    }

    public BillingMode Mode { get; }

    /// <summary>True for Stripe and Emulator: checkout, webhooks and pay per use are available.</summary>
    public bool IsEnabled => Mode != BillingMode.Disabled;

    public bool IsEmulator => Mode == BillingMode.Emulator;

    /// <summary>The credits ledger asks this before choosing pay per use as a funding source.</summary>
    public bool IsPayPerUseAvailable => IsEnabled;

    /// <summary>Production running on the emulator: payments are not real, and the layout says so.</summary>
    public bool ShowEmulatorBanner { get; }

    /// <summary>Stripe's key, or in Emulator mode the emulator's (as it published it at start).</summary>
    internal string? SecretKey { get; }

    /// <summary>Stripe's webhook signing secret, or in Emulator mode the emulator's.</summary>
    internal string? WebhookSecret { get; private set; }

    private volatile string? _storedWebhookSecret;

    /// <summary>
    /// The signing secret of the endpoint <c>stripe sync</c> registered (kept in <c>billing_settings</c>), read at start and
    /// updated when sync runs in this process. In Stripe mode it is used only when no secret is configured; in Emulator
    /// mode signatures with either the emulator's secret or this one are accepted.
    /// </summary>
    internal string? StoredWebhookSecret
    {
        get => _storedWebhookSecret;
        set
        {
            _storedWebhookSecret = value;
            if (Mode == BillingMode.Stripe && !_webhookSecretConfigured)
                WebhookSecret = value;
        }
    }

    private bool _webhookSecretConfigured;

    /// <summary>The secrets a webhook signature is checked against, the configured one first.</summary>
    internal IReadOnlyList<string> WebhookSecrets =>
        new[] { WebhookSecret, StoredWebhookSecret }.OfType<string>().Distinct(StringComparer.Ordinal).ToList();

    /// <summary>Adds the secret stored by <c>stripe sync</c> (see <see cref="StoredWebhookSecret"/>).</summary>
    internal BillingModeInfo WithStoredWebhookSecret(string? stored)
    {
        _webhookSecretConfigured = WebhookSecret is not null;
        StoredWebhookSecret = stored;
        return this;
    }

    /// <summary>
    /// The Stripe Dashboard's page of a Stripe object by its id's prefix (a PaymentIntent, charge, subscription, invoice,
    /// customer, event or Checkout Session), under <c>/test/</c> with a test key; null when there is none: in Emulator mode
    /// (the emulator has no dashboard pages, only Checkout, the portal and its dev controls), with billing off, or for an id
    /// of another kind.
    /// </summary>
    public string? DashboardUrl(string? objectId)
    {
        if (Mode != BillingMode.Stripe || string.IsNullOrEmpty(objectId))
            return null;
        var section = objectId switch
        {
            _ when objectId.StartsWith("pi_", StringComparison.Ordinal) || objectId.StartsWith("ch_", StringComparison.Ordinal) => "payments",
            _ when objectId.StartsWith("sub_", StringComparison.Ordinal) => "subscriptions",
            _ when objectId.StartsWith("in_", StringComparison.Ordinal) => "invoices",
            _ when objectId.StartsWith("cus_", StringComparison.Ordinal) => "customers",
            _ when objectId.StartsWith("evt_", StringComparison.Ordinal) => "events",
            _ when objectId.StartsWith("cs_", StringComparison.Ordinal) => "checkout/sessions",
            _ => null,
        };
        if (section is null)
            return null;
        var test = SecretKey is { } key && (key.StartsWith("sk_test_", StringComparison.Ordinal) || key.StartsWith("rk_test_", StringComparison.Ordinal));
        return $"https://dashboard.stripe.com/{(test ? "test/" : "")}{section}/{Uri.EscapeDataString(objectId)}";
    }

    /// <summary>Decides the mode from configuration, the environment variables Stripe's tools use, and the host environment.</summary>
    public static BillingModeInfo Resolve(BillingOptions options, IHostEnvironment environment)
    {
        var secretKey = NullIfEmpty(options.SecretKey) ?? NullIfEmpty(Environment.GetEnvironmentVariable("STRIPE_SECRET_KEY"));
        var webhookSecret = NullIfEmpty(options.WebhookSecret) ?? NullIfEmpty(Environment.GetEnvironmentVariable("STRIPE_WEBHOOK_SECRET"));
        var mode = options.Mode
            ?? (secretKey is not null ? BillingMode.Stripe
                : environment.IsDevelopment() || environment.IsEnvironment("Testing") ? BillingMode.Emulator
                : BillingMode.Disabled);
        if (mode == BillingMode.Emulator)
            (secretKey, webhookSecret) = (NullIfEmpty(options.Emulator.SecretKey), NullIfEmpty(options.Emulator.WebhookSecret));
        var bannered = mode == BillingMode.Emulator && environment.IsProduction();
        return new BillingModeInfo(mode, bannered, secretKey, webhookSecret);
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}

/// <summary>Refuses to start in Stripe mode without the keys that mode needs.</summary>
internal sealed class BillingOptionsValidator(IHostEnvironment environment, BillingModeInfo resolved) : IValidateOptions<BillingOptions>
{
    public ValidateOptionsResult Validate(string? name, BillingOptions options)
    {
        var failures = new List<string>();
        foreach (var type in options.PaymentMethodTypes ?? [])
            if (!BillingOptions.StripeCheckoutPaymentMethodTypes.Contains(type?.Trim() ?? ""))
                failures.Add($"Billing:PaymentMethodTypes has '{type}', which Stripe Checkout does not take; use Stripe's names, e.g. card, sepa_debit, us_bank_account.");
        var info = BillingModeInfo.Resolve(options, environment);
        if (info.Mode != BillingMode.Stripe)
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        if (info.SecretKey is null)
            failures.Add("Billing:Mode is Stripe but no secret key is set (Billing:SecretKey or STRIPE_SECRET_KEY).");
        else if (!info.SecretKey.StartsWith("sk_", StringComparison.Ordinal) && !info.SecretKey.StartsWith("rk_", StringComparison.Ordinal))
            failures.Add("Billing:SecretKey must be a Stripe secret or restricted key (sk_... or rk_...).");
        if (info.WebhookSecret is null && resolved.WebhookSecret is null)
            failures.Add("Billing:Mode is Stripe but no webhook secret is set (Billing:WebhookSecret or STRIPE_WEBHOOK_SECRET) and none is stored: run 'GenSaaS.Web stripe sync'.");
        if (options.PublicBaseUrl is { Length: > 0 } url && !Uri.TryCreate(url, UriKind.Absolute, out _))
            failures.Add("Billing:PublicBaseUrl must be an absolute URL.");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
