using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Reflection;
using Stripe;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// The parameters Stripe accepts for each call, taken from Stripe.net's options class for it (generated from Stripe's
/// OpenAPI specification at the API version Stripe.net pins). A parameter outside that set is refused as Stripe refuses
/// it: 400 <c>parameter_unknown</c> naming the parameter, so a call that passes here is one Stripe's API accepts.
/// </summary>
internal static class StripeParameters
{
    private static readonly FrozenDictionary<string, Type> OptionsByRoute = new Dictionary<string, Type>
    {
        ["POST /customers"] = typeof(CustomerCreateOptions),
        ["GET /customers"] = typeof(CustomerListOptions),
        ["GET /customers/{id}"] = typeof(CustomerGetOptions),
        ["POST /customers/{id}"] = typeof(CustomerUpdateOptions),
        ["GET /customers/{id}/payment_methods"] = typeof(CustomerPaymentMethodListOptions),
        ["POST /products"] = typeof(ProductCreateOptions),
        ["GET /products"] = typeof(ProductListOptions),
        ["GET /products/{id}"] = typeof(ProductGetOptions),
        ["POST /products/{id}"] = typeof(ProductUpdateOptions),
        ["POST /prices"] = typeof(PriceCreateOptions),
        ["GET /prices"] = typeof(PriceListOptions),
        ["GET /prices/{id}"] = typeof(PriceGetOptions),
        ["POST /prices/{id}"] = typeof(PriceUpdateOptions),
        ["POST /checkout/sessions"] = typeof(Stripe.Checkout.SessionCreateOptions),
        ["GET /checkout/sessions"] = typeof(Stripe.Checkout.SessionListOptions),
        ["GET /checkout/sessions/{id}"] = typeof(Stripe.Checkout.SessionGetOptions),
        ["GET /checkout/sessions/{id}/line_items"] = typeof(Stripe.Checkout.SessionLineItemListOptions),
        ["POST /checkout/sessions/{id}/expire"] = typeof(Stripe.Checkout.SessionExpireOptions),
        ["GET /setup_intents/{id}"] = typeof(SetupIntentGetOptions),
        ["GET /setup_intents"] = typeof(SetupIntentListOptions),
        ["GET /payment_methods/{id}"] = typeof(PaymentMethodGetOptions),
        ["GET /payment_methods"] = typeof(PaymentMethodListOptions),
        ["POST /payment_methods/{id}/attach"] = typeof(PaymentMethodAttachOptions),
        ["POST /payment_methods/{id}/detach"] = typeof(PaymentMethodDetachOptions),
        ["POST /payment_intents"] = typeof(PaymentIntentCreateOptions),
        ["GET /payment_intents"] = typeof(PaymentIntentListOptions),
        ["GET /payment_intents/{id}"] = typeof(PaymentIntentGetOptions),
        ["POST /payment_intents/{id}/confirm"] = typeof(PaymentIntentConfirmOptions),
        ["POST /payment_intents/{id}/capture"] = typeof(PaymentIntentCaptureOptions),
        ["POST /payment_intents/{id}/cancel"] = typeof(PaymentIntentCancelOptions),
        ["GET /charges/{id}"] = typeof(ChargeGetOptions),
        ["GET /charges"] = typeof(ChargeListOptions),
        ["POST /refunds"] = typeof(RefundCreateOptions),
        ["GET /refunds/{id}"] = typeof(RefundGetOptions),
        ["GET /refunds"] = typeof(RefundListOptions),
        ["POST /subscriptions"] = typeof(SubscriptionCreateOptions),
        ["GET /subscriptions/{id}"] = typeof(SubscriptionGetOptions),
        ["GET /subscriptions"] = typeof(SubscriptionListOptions),
        ["POST /subscriptions/{id}"] = typeof(SubscriptionUpdateOptions),
        ["DELETE /subscriptions/{id}"] = typeof(SubscriptionCancelOptions),
        ["GET /invoice_payments"] = typeof(InvoicePaymentListOptions),
        ["GET /invoices/{id}"] = typeof(InvoiceGetOptions),
        ["GET /invoices"] = typeof(InvoiceListOptions),
        ["POST /billing_portal/sessions"] = typeof(Stripe.BillingPortal.SessionCreateOptions),
        ["POST /billing_portal/configurations"] = typeof(Stripe.BillingPortal.ConfigurationCreateOptions),
        ["GET /billing_portal/configurations"] = typeof(Stripe.BillingPortal.ConfigurationListOptions),
        ["GET /billing_portal/configurations/{id}"] = typeof(Stripe.BillingPortal.ConfigurationGetOptions),
        ["POST /billing_portal/configurations/{id}"] = typeof(Stripe.BillingPortal.ConfigurationUpdateOptions),
        ["POST /webhook_endpoints"] = typeof(WebhookEndpointCreateOptions),
        ["GET /webhook_endpoints"] = typeof(WebhookEndpointListOptions),
        ["GET /webhook_endpoints/{id}"] = typeof(WebhookEndpointGetOptions),
        ["POST /webhook_endpoints/{id}"] = typeof(WebhookEndpointUpdateOptions),
        ["DELETE /webhook_endpoints/{id}"] = typeof(WebhookEndpointDeleteOptions),
        ["GET /tax/settings"] = typeof(Stripe.Tax.SettingsGetOptions),
        ["POST /tax/settings"] = typeof(Stripe.Tax.SettingsUpdateOptions),
        ["GET /events/{id}"] = typeof(EventGetOptions),
        ["GET /events"] = typeof(EventListOptions),
    }.ToFrozenDictionary();

    private static readonly ConcurrentDictionary<Type, FrozenSet<string>> NamesByType = new();

    /// <summary>The routes the check covers, for the conformance test.</summary>
    public static IReadOnlyDictionary<string, Type> Routes => OptionsByRoute;

    /// <summary>The top-level parameter names Stripe.net's options class sends (its JSON property names).</summary>
    public static FrozenSet<string> Accepted(Type options) => NamesByType.GetOrAdd(options, type =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(JsonName)
            .OfType<string>()
            .ToFrozenSet(StringComparer.Ordinal));

    /// <summary>Refuses the first top-level parameter Stripe does not take for <paramref name="route"/> ("METHOD /pattern").</summary>
    public static void Check(string route, FormParams p)
    {
        if (!OptionsByRoute.TryGetValue(route, out var options))
            return;
        var accepted = Accepted(options);
        foreach (var (name, _) in p.Root)
        {
            if (!accepted.Contains(name))
                throw new StripeApiException(400, "invalid_request_error", $"Received unknown parameter: {name}", "parameter_unknown", name);
        }
    }

    // Stripe.net names each parameter with Newtonsoft's [JsonProperty] and System.Text.Json's [JsonPropertyName];
    // read by attribute name so the emulator needs neither serializer's types.
    private static string? JsonName(PropertyInfo property) => property.CustomAttributes
        .Where(a => a.AttributeType.Name is "JsonPropertyAttribute" or "JsonPropertyNameAttribute")
        .Select(a => a.ConstructorArguments.FirstOrDefault().Value as string)
        .FirstOrDefault(name => !string.IsNullOrEmpty(name));
}
