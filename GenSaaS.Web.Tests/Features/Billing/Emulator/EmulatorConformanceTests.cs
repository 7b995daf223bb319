using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using GenSaaS.StripeEmulator;
using Stripe;
using Stripe.Checkout;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>
/// Every object the emulator returns carries every field Stripe's published fixture of that object carries,
/// with the same JSON type, recursively (arrays by their first element).
/// </summary>
public sealed class EmulatorConformanceTests(EmulatorApp app) : IClassFixture<EmulatorApp>
{
    /// <summary>
    /// Fields Stripe documents as nullable that the fixture happens to fill, and that the emulator leaves null because a
    /// value would claim something that did not happen (a discount, an error, a cancellation, shipping, a trial...).
    /// </summary>
    private static readonly HashSet<string> NullableInStripe =
    [
        "customer:address", "customer:currency", "customer:discount", "customer:invoice_settings.rendering_options", "customer:shipping",
        "product:default_price", "product:package_dimensions", "product:description",
        "price:custom_unit_amount", "price:transform_quantity",
        "checkout.session:after_expiration", "checkout.session:consent", "checkout.session:consent_collection",
        "checkout.session:custom_text.after_submit", "checkout.session:custom_text.shipping_address", "checkout.session:custom_text.submit",
        "checkout.session:custom_text.terms_of_service_acceptance", "checkout.session:automatic_tax.liability",
        "checkout.session:invoice_creation.invoice_data.issuer", "checkout.session:payment_method_configuration_details",
        "checkout.session:saved_payment_method_options.allow_redisplay_filters",
        "checkout.session:shipping_address_collection", "checkout.session:shipping_cost", "checkout.session:collected_information.shipping_details",
        "checkout.session:permissions", "checkout.session:wallet_options", "checkout.session:currency_conversion", "checkout.session:url",
        "setup_intent:automatic_payment_methods", "setup_intent:last_setup_error", "setup_intent:next_action",
        "setup_intent:payment_method_configuration_details",
        "payment_method:card.generated_from", "payment_method:card.wallet", "payment_method:billing_details.phone",
        "payment_method:billing_details.address.city", "payment_method:billing_details.address.country", "payment_method:billing_details.address.line1",
        "payment_method:billing_details.address.postal_code", "payment_method:billing_details.address.state",
        "checkout.session:invoice_creation.invoice_data.rendering_options",
        "payment_intent:automatic_payment_methods", "payment_intent:canceled_at", "payment_intent:last_payment_error",
        "payment_intent:next_action", "payment_intent:payment_method_configuration_details", "payment_intent:processing",
        "payment_intent:shipping", "payment_intent:transfer_data",
        "charge:billing_details.name", "charge:description", "charge:shipping", "charge:transfer_data", "charge:source", "charge:payment_method_details.card.installments",
        "charge:payment_method_details.card.three_d_secure", "charge:payment_method_details.card.wallet",
        "refund:destination_details.card.reference",
        "subscription:automatic_tax.liability", "subscription:billing_cycle_anchor_config", "subscription:cancel_at", "subscription:canceled_at",
        "subscription:ended_at", "subscription:next_pending_invoice_item_invoice", "subscription:pause_collection",
        "subscription:payment_settings.payment_method_options", "subscription:pending_invoice_item_interval", "subscription:pending_update",
        "subscription:transfer_data", "subscription:trial_end", "subscription:trial_start", "subscription:billing_thresholds",
        "subscription:billing_mode.flexible", "subscription:items.data.billing_thresholds", "subscription:items.data.plan.transform_usage",
        "subscription:items.data.price.custom_unit_amount", "subscription:items.data.price.transform_quantity",
        "invoice:automatic_tax.liability", "invoice:customer_address", "invoice:customer_shipping", "invoice:due_date", "invoice:from_invoice",
        "invoice:last_finalization_error", "invoice:next_payment_attempt", "invoice:payment_settings.payment_method_options",
        "invoice:shipping_cost", "invoice:shipping_details", "invoice:webhooks_delivered_at", "invoice:lines.data.parent.invoice_item_details",
        "invoice:lines.data.parent.subscription_item_details.proration_details.credited_items", "invoice:parent.quote_details",
        "billing_portal.session:flow",
    ];

    [Fact]
    public async Task EveryObjectType_HasEveryFixtureFieldWithTheSameJsonType()
    {
        var fixtures = LoadFixtures();
        var produced = await ProduceEveryObjectAsync();
        var problems = new List<string>();
        foreach (var (type, json) in produced)
        {
            fixtures.TryGetProperty(type, out var fixture).ShouldBeTrue($"fixtures3.json has no {type}");
            json.GetProperty("object").GetString().ShouldBe(type);
            Compare(type, "", fixture, json, problems);
        }
        produced.Select(p => p.Type).Distinct().Count().ShouldBe(13);
        problems.ShouldBeEmpty();
    }

    private static void Compare(string type, string path, JsonElement fixture, JsonElement ours, List<string> problems)
    {
        foreach (var field in fixture.EnumerateObject())
        {
            var fieldPath = path.Length == 0 ? field.Name : $"{path}.{field.Name}";
            if (!ours.TryGetProperty(field.Name, out var value))
            {
                problems.Add($"{type}: {fieldPath} is missing");
                continue;
            }
            var expected = field.Value.ValueKind;
            if (expected == JsonValueKind.Null) continue;
            if (value.ValueKind == JsonValueKind.Null)
            {
                if (!NullableInStripe.Contains($"{type}:{fieldPath}"))
                    problems.Add($"{type}: {fieldPath} is null, the fixture has {expected}");
                continue;
            }
            if (Kind(value.ValueKind) != Kind(expected))
            {
                problems.Add($"{type}: {fieldPath} is {value.ValueKind}, the fixture has {expected}");
                continue;
            }
            // Metadata is a map of the caller's own keys, not a shape.
            if (field.Name == "metadata") continue;
            // The event's data.object is whatever object the event is about; it is checked as that object elsewhere.
            if (type == "event" && fieldPath == "data.object") continue;
            if (expected == JsonValueKind.Object)
                Compare(type, fieldPath, field.Value, value, problems);
            else if (expected == JsonValueKind.Array && field.Value.GetArrayLength() > 0 && value.GetArrayLength() > 0
                     && field.Value[0].ValueKind == JsonValueKind.Object && value[0].ValueKind == JsonValueKind.Object)
                Compare(type, fieldPath, field.Value[0], value[0], problems);
        }
    }

    private static string Kind(JsonValueKind kind) => kind is JsonValueKind.True or JsonValueKind.False ? "bool" : kind.ToString();

    /// <summary>Stripe's fixtures live in <c>shared/stripe</c> beside the repository, found by walking up from the test binaries.</summary>
    private static JsonElement LoadFixtures()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var file = Path.Combine(dir.FullName, "shared", "stripe", "fixtures3.json");
            if (System.IO.File.Exists(file))
                return JsonDocument.Parse(System.IO.File.ReadAllText(file)).RootElement.GetProperty("resources").Clone();
        }
        throw new FileNotFoundException("shared/stripe/fixtures3.json was not found above " + AppContext.BaseDirectory);
    }

    private async Task<List<(string Type, JsonElement Json)>> ProduceEveryObjectAsync()
    {
        using var raw = app.NewClient();
        raw.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.Emulator.SecretKey);
        async Task<JsonElement> Get(string path)
        {
            var response = await raw.GetAsync("/emulator/stripe/v1/" + path);
            var body = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.OK, body);
            return JsonDocument.Parse(body).RootElement.Clone();
        }

        var (customer, pmId) = await app.CustomerWithCardAsync(TestCard.Visa);
        var price = await app.PriceAsync(1900, "month");
        var setupSession = (await new SessionService(app.Stripe).ListAsync(new SessionListOptions { Customer = customer.Id })).Data.First();

        var oneOff = await app.PriceAsync(900);
        var paid = await new SessionService(app.Stripe).CreateAsync(new SessionCreateOptions
        {
            Mode = "payment", Customer = customer.Id, LineItems = [new() { Price = oneOff.Id, Quantity = 1 }],
            SuccessUrl = "https://app.example/ok", CancelUrl = "https://app.example/no",
        });
        (await app.PayOnHostedPageAsync(paid.Url, TestCard.Visa)).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        var pi = await new PaymentIntentService(app.Stripe).CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = 500, Currency = "usd", Customer = customer.Id, PaymentMethod = pmId, CaptureMethod = "manual", Confirm = true, OffSession = true, AllowedPaymentMethodTypes = ["card"],
        });
        await new PaymentIntentService(app.Stripe).CaptureAsync(pi.Id);
        var refund = await new RefundService(app.Stripe).CreateAsync(new RefundCreateOptions { PaymentIntent = pi.Id, Amount = 100 });

        var sub = await app.SubscribeAsync(TestCard.Visa);
        var invoiceId = (await new InvoiceService(app.Stripe).ListAsync(new InvoiceListOptions { Subscription = sub.Id })).Data[0].Id;
        var portalResponse = await raw.PostAsync("/emulator/stripe/v1/billing_portal/sessions", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["customer"] = customer.Id, ["return_url"] = "https://app.example/account",
            ["configuration"] = (await app.PortalSessionAsync(customer.Id)).ConfigurationId,
        }));
        var portal = JsonDocument.Parse(await portalResponse.Content.ReadAsStringAsync()).RootElement.Clone();
        var events = await Get("events?limit=1");

        return
        [
            ("customer", await Get($"customers/{customer.Id}")),
            ("product", await Get($"products/{price.ProductId}")),
            ("price", await Get($"prices/{price.Id}")),
            ("checkout.session", await Get($"checkout/sessions/{paid.Id}")),
            ("setup_intent", await Get($"setup_intents/{setupSession.SetupIntentId}")),
            ("payment_method", await Get($"payment_methods/{pmId}")),
            ("payment_intent", await Get($"payment_intents/{pi.Id}")),
            ("charge", await Get($"charges/{pi.LatestChargeId}")),
            ("refund", await Get($"refunds/{refund.Id}")),
            ("subscription", await Get($"subscriptions/{sub.Id}")),
            ("invoice", await Get($"invoices/{invoiceId}")),
            ("billing_portal.session", portal),
            ("event", events.GetProperty("data")[0]),
        ];
    }
}
