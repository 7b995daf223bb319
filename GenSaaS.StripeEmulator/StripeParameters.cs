using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Reflection;
using System.Text.Json.Nodes;
using Stripe;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// The parameters Stripe accepts for each call, taken from Stripe.net's options class for it (generated from Stripe's
/// OpenAPI specification at the API version Stripe.net pins), at every depth: nested objects by their JSON names, lists by
/// index, dictionaries such as <c>metadata</c> by any key. A parameter outside that tree is refused as Stripe refuses it:
/// 400 <c>parameter_unknown</c>, "Received unknown parameter: line_items[0][price_data][unit_amout]", <c>param</c> the same
/// bracketed name, before anything is done. So a call that passes here sends only names Stripe's API accepts.
/// Not copied: the "Did you mean ...?" Stripe sometimes appends to that message, and Stripe's type errors for an object
/// sent where it takes a plain value (or the reverse), whose exact wording could not be confirmed; such a value passes here.
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
        ["GET /balance_transactions"] = typeof(BalanceTransactionListOptions),
        ["GET /balance_transactions/{id}"] = typeof(BalanceTransactionGetOptions),
        ["GET /events/{id}"] = typeof(EventGetOptions),
        ["GET /events"] = typeof(EventListOptions),
    }.ToFrozenDictionary();

    private static readonly ConcurrentDictionary<Type, FrozenDictionary<string, Type>> ParametersByType = new();

    /// <summary>The routes the check covers, for the conformance test.</summary>
    public static IReadOnlyDictionary<string, Type> Routes => OptionsByRoute;

    /// <summary>The parameter names Stripe.net's options class sends at its own level (its JSON property names).</summary>
    public static IReadOnlySet<string> Accepted(Type options) => Parameters(options).Keys.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>
    /// Refuses the first parameter, at any depth, that Stripe does not take for <paramref name="route"/> ("METHOD /pattern"):
    /// <c>a[b][0][c]</c> is looked up as <c>c</c> in the element type of the list <c>b</c> of the options class of <c>a</c>.
    /// </summary>
    public static void Check(string route, FormParams p)
    {
        if (OptionsByRoute.TryGetValue(route, out var options))
            CheckNode(options, p.Root, "");
    }

    /// <summary>
    /// Walks one node of the sent parameters against the type Stripe.net gives it. An options class takes its own names;
    /// a list takes any index, a dictionary (<c>metadata</c> and the like) any key, each checked against the element type;
    /// <c>AnyOf</c> takes what any of its types takes. A plain value (<c>""</c> included, which Stripe.net sends to
    /// empty a field or a list) is not a name, so there is nothing below it to refuse; whether its type fits is left to the handlers.
    /// </summary>
    private static void CheckNode(Type type, JsonNode? node, string path)
    {
        if (node is not (JsonObject or JsonArray))
            return;
        var containers = Containers(type).ToList();
        if (containers.Count == 0)
            return; // An object where Stripe takes a plain value is a type error, not an unknown name; see the class comment.
        StripeApiException? first = null;
        foreach (var container in containers)
        {
            try
            {
                CheckContainer(container, node, path);
                return;
            }
            catch (StripeApiException refused)
            {
                first ??= refused;
            }
        }
        throw first!;
    }

    private static void CheckContainer(Type container, JsonNode node, string path)
    {
        var element = typeof(INestedOptions).IsAssignableFrom(container) ? null : ElementType(container);
        var names = element is null ? Parameters(container) : null;
        foreach (var (key, child) in Children(node))
        {
            var name = path.Length == 0 ? key : $"{path}[{key}]";
            if (element is not null)
                CheckNode(element, child, name);
            else if (names!.TryGetValue(key, out var propertyType))
                CheckNode(propertyType, child, name);
            else
                throw new StripeApiException(400, "invalid_request_error", $"Received unknown parameter: {name}", "parameter_unknown", name);
        }
    }

    /// <summary>The entries of an object, or of an array by index (keys that are all numbers parse as an array).</summary>
    private static IEnumerable<(string Key, JsonNode? Child)> Children(JsonNode node) => node is JsonArray array
        ? array.Select((child, index) => (index.ToString(System.Globalization.CultureInfo.InvariantCulture), child))
        : node.AsObject().Select(entry => (entry.Key, entry.Value));

    /// <summary>The types under <paramref name="type"/> that take nested parameters: options classes, lists and dictionaries.</summary>
    private static IEnumerable<Type> Containers(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (typeof(IAnyOf).IsAssignableFrom(type))
            return type.GetGenericArguments().SelectMany(Containers);
        if (typeof(INestedOptions).IsAssignableFrom(type) || ElementType(type) is not null)
            return [type];
        return [];
    }

    /// <summary>The value type of a dictionary or the element type of a list; null for anything else.</summary>
    private static Type? ElementType(Type type)
    {
        if (type == typeof(string)) return null;
        var generic = (type.IsInterface ? [type] : Array.Empty<Type>()).Concat(type.GetInterfaces()).Where(i => i.IsGenericType).ToList();
        var dictionary = generic.FirstOrDefault(i => i.GetGenericTypeDefinition() == typeof(IDictionary<,>));
        if (dictionary is not null) return dictionary.GetGenericArguments()[1];
        return generic.FirstOrDefault(i => i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];
    }

    private static FrozenDictionary<string, Type> Parameters(Type options) => ParametersByType.GetOrAdd(options, type =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(property => (Name: JsonName(property), property.PropertyType))
            .Where(p => p.Name is not null)
            .DistinctBy(p => p.Name)
            .ToFrozenDictionary(p => p.Name!, p => p.PropertyType, StringComparer.Ordinal));

    // Stripe.net names each parameter with Newtonsoft's [JsonProperty] and System.Text.Json's [JsonPropertyName];
    // read by attribute name so the emulator needs neither serializer's types.
    private static string? JsonName(PropertyInfo property) => property.CustomAttributes
        .Where(a => a.AttributeType.Name is "JsonPropertyAttribute" or "JsonPropertyNameAttribute")
        .Select(a => a.ConstructorArguments.FirstOrDefault().Value as string)
        .FirstOrDefault(name => !string.IsNullOrEmpty(name));
}
