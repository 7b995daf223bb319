using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Nodes;

namespace GenSaaS.StripeEmulator;

/// <summary>What paying on the hosted checkout page came to.</summary>
/// <summary>How pressing Pay went: done (redirect), refused (the message), or waiting for the 3-D Secure step.</summary>
public sealed record CheckoutOutcome(bool Completed, string? RedirectUrl, string? Error, bool NeedsAuthentication = false);

/// <summary>What the customer did on the 3-D Secure step of a hosted page: not shown yet, passed, or failed.</summary>
public enum CardAuthentication
{
    NotYet,
    Completed,
    Failed,
}

public sealed partial class EmulatedStripe
{
    internal async Task<JsonObject> CreateCheckoutSessionAsync(EmulatorTx tx, FormParams p, string baseUrl)
    {
        var session = StripeShapes.CheckoutSession(Ids.New("cs_test_"), tx.Now);
        var id = session["id"]!.GetValue<string>();
        var mode = p.Required("mode");
        if (mode is not ("payment" or "subscription" or "setup"))
            throw StripeApiException.Invalid("Invalid mode: must be one of payment, setup, or subscription", "mode");
        session["mode"] = mode;
        var allowedTypes = p.Strings("allowed_payment_method_types");
        for (var i = 0; i < allowedTypes.Count; i++)
            if (!CheckoutPaymentMethodTypes.Contains(allowedTypes[i]))
                throw StripeApiException.Invalid(
                    $"Invalid allowed_payment_method_types[{i}]: must be one of {string.Join(", ", CheckoutPaymentMethodTypes.Order(StringComparer.Ordinal))}",
                    $"allowed_payment_method_types[{i}]");
        if (allowedTypes.Count > 0)
            session["payment_method_types"] = new JsonArray(allowedTypes.Distinct(StringComparer.Ordinal).Select(t => (JsonNode)JsonValue.Create(t)!).ToArray());
        session["success_url"] = p.Required("success_url");
        if (p.Has("cancel_url")) session["cancel_url"] = p.Str("cancel_url");
        if (p.Has("client_reference_id")) session["client_reference_id"] = p.Str("client_reference_id");
        JsonObject? existingCustomer = null;
        if (p.Str("customer") is { Length: > 0 } customerId)
        {
            existingCustomer = await tx.GetAsync(customerId, "customer", "customer");
            session["customer"] = customerId;
            session["customer_email"] = null;
            session["customer_details"] = StripeShapes.CustomerDetails(existingCustomer["email"]?.GetValue<string>());
        }
        else if (p.Str("customer_email") is { Length: > 0 } email)
            session["customer_email"] = email;
        await ApplyTaxParamsAsync(tx, session, p, mode, existingCustomer);
        FormParams.MergeMetadata(session, p.Obj("metadata"));
        session["url"] = $"{baseUrl.TrimEnd('/')}/emulator/checkout/{id}";

        var items = new JsonArray();
        long total = 0;
        string? currency = p.Str("currency")?.ToLowerInvariant();
        var lineItems = p.Arr("line_items");
        for (var i = 0; i < lineItems.Count; i++)
        {
            var line = lineItems[i] as JsonObject ?? throw StripeApiException.Invalid("Invalid line_items", $"line_items[{i}]");
            JsonObject price;
            if (FormParams.Str(line, "price") is { Length: > 0 } priceId)
                price = await tx.GetAsync(priceId, "price", $"line_items[{i}][price]");
            else if (line["price_data"] is JsonObject priceData)
                price = await CreatePriceAsync(tx, new FormParams(priceData.DeepClone().AsObject()));
            else
                throw StripeApiException.MissingParam($"line_items[{i}][price]");
            var quantity = FormParams.Long(line, "quantity") ?? 1;
            var recurring = price["type"]!.GetValue<string>() == "recurring";
            if (mode == "payment" && recurring)
                throw StripeApiException.Invalid("You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.", $"line_items[{i}][price]");
            if (mode == "subscription" && !recurring)
                throw StripeApiException.Invalid("You must specify at least one recurring price in `subscription` mode when using prices.", $"line_items[{i}][price]");
            var priceCurrency = price["currency"]!.GetValue<string>();
            if (currency is not null && currency != priceCurrency)
                throw StripeApiException.Invalid("All line items must use the same currency.", $"line_items[{i}][price]");
            currency = priceCurrency;
            total += price["unit_amount"]!.GetValue<long>() * quantity;
            items.Add(new JsonObject { ["price"] = price["id"]!.GetValue<string>(), ["quantity"] = quantity });
        }
        if (mode == "setup")
        {
            if (items.Count > 0) throw StripeApiException.Invalid("You cannot pass `line_items` in `setup` mode.", "line_items");
            session["amount_subtotal"] = null;
            session["amount_total"] = null;
            session["payment_status"] = "no_payment_required";
            session["invoice_creation"] = null;
            var seti = StripeShapes.SetupIntent(Ids.New("seti_"), tx.Now);
            seti["customer"] = session["customer"]?.DeepClone();
            FormParams.MergeMetadata(seti, p.Obj("setup_intent_data")?["metadata"] as JsonObject);
            await tx.PutAsync(seti);
            await tx.EmitAsync("setup_intent.created", seti);
            session["setup_intent"] = seti["id"]!.GetValue<string>();
        }
        else
        {
            if (items.Count == 0) throw StripeApiException.MissingParam("line_items");
            if (mode == "payment" && currency is not null && StripeCurrencies.MinimumCharge.TryGetValue(currency, out var minimum) && total < minimum)
                throw StripeApiException.Invalid(
                    $"The Checkout Session's total amount due must add up to at least {StripeCurrencies.Describe(minimum, currency)}", "line_items", "amount_too_small");
            session["amount_subtotal"] = total;
            session["amount_total"] = total;
            if (mode == "subscription") session["invoice_creation"] = null;
            else if (session["customer"] is null) session["customer_creation"] = p.Str("customer_creation") ?? "if_required";
        }
        session["currency"] = currency;

        var privateData = new JsonObject
        {
            ["line_items"] = items,
            ["payment_intent_data"] = p.Obj("payment_intent_data")?.DeepClone(),
            ["subscription_data"] = p.Obj("subscription_data")?.DeepClone(),
        };
        await tx.PutAsync(session, privateData: privateData);
        return session;
    }

    /// <summary>A boolean parameter as Stripe reads it: <c>true</c> or <c>false</c>, anything else refused.</summary>
    private static bool? CheckoutBool(JsonObject? parent, string name, string param)
    {
        var text = FormParams.Str(parent, name);
        return text switch
        {
            null => null,
            "true" => true,
            "false" => false,
            _ => throw StripeApiException.Invalid($"Invalid boolean: {text}", param),
        };
    }

    private static string? CheckoutEnum(JsonObject? parent, string name, string param, params string[] allowed)
    {
        var text = FormParams.Str(parent, name);
        if (text is null || allowed.Contains(text)) return text;
        throw StripeApiException.Invalid($"Invalid {param}: must be one of {string.Join(" or ", allowed)}", param);
    }

    /// <summary>
    /// Stripe Tax on a Checkout Session, with Stripe's refusals: not in setup mode, not while the account's Stripe Tax is not
    /// active, not for an existing customer without an address unless Checkout may save the one it collects, and tax ID
    /// collection for an existing customer only when Checkout may update their name. The emulator computes no tax.
    /// </summary>
    private static async Task ApplyTaxParamsAsync(EmulatorTx tx, JsonObject session, FormParams p, string mode, JsonObject? customer)
    {
        var billingAddress = CheckoutEnum(p.Root, "billing_address_collection", "billing_address_collection", "auto", "required");
        var update = p.Obj("customer_update");
        var updateAddress = CheckoutEnum(update, "address", "customer_update[address]", "auto", "never");
        var updateName = CheckoutEnum(update, "name", "customer_update[name]", "auto", "never");
        var updateShipping = CheckoutEnum(update, "shipping", "customer_update[shipping]", "auto", "never");
        var automaticTax = CheckoutBool(p.Obj("automatic_tax"), "enabled", "automatic_tax[enabled]") == true;
        var taxIds = CheckoutBool(p.Obj("tax_id_collection"), "enabled", "tax_id_collection[enabled]") == true;
        if (billingAddress is not null) session["billing_address_collection"] = billingAddress;

        if (automaticTax)
        {
            if (mode == "setup")
                throw new StripeApiException(400, "invalid_request_error", "You cannot set `automatic_tax[enabled]=true` in `setup` mode.");
            if (!await TaxIsActiveAsync(tx))
                throw new StripeApiException(400, "invalid_request_error", StripeTaxInactiveMessage, "stripe_tax_inactive");
            var hasLocation = customer is not null && (HasCountry(customer["address"]) || HasCountry(customer["shipping"]?["address"]));
            if (customer is not null && !hasLocation && updateAddress != "auto" && updateShipping != "auto")
                throw new StripeApiException(400, "invalid_request_error",
                    "Automatic tax calculation in Checkout requires a valid address on the Customer. Add a valid address to the Customer or set either `customer_update[address]` to 'auto' or `customer_update[shipping]` to 'auto' to save the address entered in Checkout to the Customer.",
                    "customer_tax_location_invalid");
            session["automatic_tax"] = new JsonObject
            {
                ["enabled"] = true,
                ["liability"] = new JsonObject { ["type"] = "self" },
                ["status"] = hasLocation ? "complete" : "requires_location_inputs",
                ["provider"] = "stripe",
            };
        }
        if (taxIds && customer is not null && updateName != "auto")
            throw new StripeApiException(400, "invalid_request_error",
                "Tax ID collection requires updating business name on the customer. To enable tax ID collection for an existing customer, please set `customer_update[name]` to `auto`.");
    }

    private static bool HasCountry(JsonNode? address) => address?["country"] is JsonValue v && v.GetValue<string>() is { Length: > 0 };

    /// <summary>What Checkout takes in <c>allowed_payment_method_types</c> (Stripe.net 53.1.0's list for the API version it pins).</summary>
    internal static readonly HashSet<string> CheckoutPaymentMethodTypes = new(StringComparer.Ordinal)
    {
        "acss_debit", "affirm", "afterpay_clearpay", "alipay", "alma", "amazon_pay", "au_becs_debit", "bacs_debit", "bancontact",
        "billie", "bizum", "blik", "boleto", "card", "cashapp", "crypto", "customer_balance", "eps", "fpx", "giropay", "grabpay",
        "ideal", "kakao_pay", "klarna", "konbini", "kr_card", "link", "mb_way", "mobilepay", "multibanco", "naver_pay",
        "nz_bank_account", "oxxo", "p24", "pay_by_bank", "payco", "paynow", "paypal", "paypay", "payto", "pix", "promptpay",
        "revolut_pay", "samsung_pay", "satispay", "scalapay", "sepa_debit", "sequra", "sofort", "sunbit", "swish", "twint", "upi",
        "us_bank_account", "wechat_pay", "zip",
    };

    /// <summary>The session's line items as Stripe lists them when <c>line_items</c> is expanded.</summary>
    internal static async Task<JsonObject> CheckoutLineItemsAsync(EmulatorTx tx, JsonObject session)
    {
        var id = session["id"]!.GetValue<string>();
        var privateData = await tx.PrivateAsync(id);
        var items = new List<JsonNode>();
        foreach (var line in privateData?["line_items"]?.AsArray() ?? [])
        {
            var price = await tx.GetAsync(line!["price"]!.GetValue<string>(), "price");
            var product = await tx.FindAsync(Ref(price["product"]), "product");
            var quantity = line["quantity"]!.GetValue<long>();
            var amount = price["unit_amount"]!.GetValue<long>() * quantity;
            items.Add(new JsonObject
            {
                ["id"] = "li_" + id[8..32],
                ["object"] = "item",
                ["amount_discount"] = 0,
                ["amount_subtotal"] = amount,
                ["amount_tax"] = 0,
                ["amount_total"] = amount,
                ["currency"] = price["currency"]!.GetValue<string>(),
                ["description"] = product?["name"]?.GetValue<string>() ?? "",
                ["price"] = price,
                ["quantity"] = quantity,
            });
        }
        return StripeShapes.List($"/v1/checkout/sessions/{id}/line_items", items);
    }

    /// <summary>Stripe's words when the customer fails (or abandons) the 3-D Secure step.</summary>
    public const string AuthenticationFailedMessage = "We are unable to authenticate your payment method. Please choose a different payment method and try again.";

    /// <summary>
    /// Pays (or saves the card for) a checkout session from the hosted page, as the customer pressing Pay. A 3-D Secure card
    /// first answers <see cref="CheckoutOutcome.NeedsAuthentication"/>; the page then asks the customer and calls again.
    /// </summary>
    public Task<CheckoutOutcome> CompleteCheckoutAsync(string sessionId, string? cardNumber, string? email = null, CardAuthentication authentication = CardAuthentication.NotYet) =>
        WriteAsync(null, async tx =>
        {
            var session = await tx.FindAsync(sessionId, "checkout.session");
            if (CannotComplete(tx, session, "card", acceptedWhenUnlisted: true, out var refusal))
                return new CheckoutOutcome(false, null, refusal);
            var card = TestCard.Find(cardNumber);
            if (card is null) return new CheckoutOutcome(false, null, "Your card number is incorrect.");
            if (TestCard.DeclinedOnSaving(card.Behaviour) is { } declineCode)
                return new CheckoutOutcome(false, null, StripeApiException.DeclineMessage(declineCode));
            if (card.Behaviour == CardBehaviour.DeclinedAfterAttach && session["mode"]!.GetValue<string>() != "setup")
                return new CheckoutOutcome(false, null, StripeApiException.DeclineMessage("generic_decline"));
            var threeDSecure = TestCard.NeedsAuthenticationOnSession(card.Behaviour);
            if (threeDSecure && authentication == CardAuthentication.NotYet)
                return new CheckoutOutcome(false, null, null, NeedsAuthentication: true);

            var before = session.DeepClone().AsObject();
            var privateData = await tx.PrivateAsync(sessionId) ?? new JsonObject();
            email = string.IsNullOrWhiteSpace(email) ? session["customer_email"]?.GetValue<string>() : email.Trim();
            JsonObject? customer = await tx.FindAsync(Ref(session["customer"]), "customer");
            email ??= customer?["email"]?.GetValue<string>();
            var billing = new JsonObject { ["email"] = email };
            if (threeDSecure && authentication == CardAuthentication.Failed)
            {
                if (session["mode"]!.GetValue<string>() == "payment")
                    await FailAuthenticationAsync(tx, session, privateData, customer, await CreatePaymentMethodAsync(tx, card, billing));
                return new CheckoutOutcome(false, null, AuthenticationFailedMessage);
            }

            switch (session["mode"]!.GetValue<string>())
            {
                case "payment":
                {
                    var pm = await CreatePaymentMethodAsync(tx, card, billing);
                    if (threeDSecure) tx.AuthenticatedPaymentMethod = pm["id"]!.GetValue<string>();
                    if (customer is null && session["customer_creation"]?.GetValue<string>() == "always")
                        customer = await NewCustomerAsync(tx, email);
                    var intentData = privateData["payment_intent_data"] as JsonObject;
                    var pi = await CheckoutPaymentIntentAsync(tx, session, privateData, customer, pm);
                    if (customer is not null && FormParams.Str(intentData, "setup_future_usage") is { Length: > 0 } usage)
                    {
                        pi["setup_future_usage"] = usage;
                        pm["customer"] = customer["id"]!.GetValue<string>();
                        await tx.PutAsync(pm);
                        await tx.EmitAsync("payment_method.attached", pm);
                        if (threeDSecure) await MarkSetUpForOffSessionAsync(tx, pm);
                    }
                    await tx.PutAsync(pi);
                    pi = await ConfirmAsync(tx, pi, offSession: false);
                    session["payment_intent"] = pi["id"]!.GetValue<string>();
                    session["payment_status"] = pi["status"]!.GetValue<string>() == "succeeded" ? "paid" : "unpaid";
                    break;
                }
                case "subscription":
                {
                    customer ??= await NewCustomerAsync(tx, email);
                    var pm = await CreatePaymentMethodAsync(tx, card, billing);
                    pm = await AttachPaymentMethodAsync(tx, pm["id"]!.GetValue<string>(), customer["id"]!.GetValue<string>());
                    if (threeDSecure)
                    {
                        tx.AuthenticatedPaymentMethod = pm["id"]!.GetValue<string>();
                        await MarkSetUpForOffSessionAsync(tx, pm);
                    }
                    var sub = await CreateSubscriptionAsync(tx, customer, pm["id"]!.GetValue<string>(),
                        privateData["line_items"]!.AsArray(), privateData["subscription_data"]?["metadata"] as JsonObject,
                        automaticTax: session["automatic_tax"]?["enabled"]?.GetValue<bool>() == true);
                    session["subscription"] = sub["id"]!.GetValue<string>();
                    session["invoice"] = Ref(sub["latest_invoice"]);
                    session["payment_status"] = "paid";
                    break;
                }
                default:
                {
                    var pm = await CreatePaymentMethodAsync(tx, card, billing);
                    if (customer is not null)
                        pm = await AttachPaymentMethodAsync(tx, pm["id"]!.GetValue<string>(), customer["id"]!.GetValue<string>());
                    if (threeDSecure) await MarkSetUpForOffSessionAsync(tx, pm);
                    var seti = await tx.GetAsync(Ref(session["setup_intent"]), "setup_intent");
                    seti["payment_method"] = pm["id"]!.GetValue<string>();
                    seti["status"] = "succeeded";
                    seti["latest_attempt"] = "setatt_" + Ids.Random(24);
                    await tx.PutAsync(seti);
                    await tx.EmitAsync("setup_intent.succeeded", seti);
                    break;
                }
            }

            session["customer"] = customer?["id"]?.GetValue<string>();
            return await MarkCompleteAsync(tx, session, before, email);
        });

    /// <summary>
    /// The session's PaymentIntent with the card about to be confirmed on it: the one an earlier attempt on this session made
    /// (Stripe keeps one per session), else a new one (<c>payment_intent.created</c>).
    /// </summary>
    private static async Task<JsonObject> CheckoutPaymentIntentAsync(EmulatorTx tx, JsonObject session, JsonObject privateData, JsonObject? customer, JsonObject pm)
    {
        if (await tx.FindAsync(Ref(session["payment_intent"]), "payment_intent") is { } earlier)
        {
            earlier["customer"] = customer?["id"]?.GetValue<string>() ?? Ref(earlier["customer"]);
            earlier["payment_method"] = pm["id"]!.GetValue<string>();
            earlier["status"] = "requires_confirmation";
            return earlier;
        }
        var intentData = privateData["payment_intent_data"] as JsonObject;
        var pi = StripeShapes.PaymentIntent(Ids.New("pi_"), tx.Now);
        pi["amount"] = session["amount_total"]!.GetValue<long>();
        pi["currency"] = session["currency"]!.GetValue<string>();
        pi["customer"] = customer?["id"]?.GetValue<string>();
        pi["payment_method"] = pm["id"]!.GetValue<string>();
        pi["status"] = "requires_confirmation";
        pi["capture_method"] = FormParams.Str(intentData, "capture_method") ?? "automatic";
        pi["metadata"] = (intentData?["metadata"] as JsonObject)?.DeepClone() ?? new JsonObject();
        await tx.PutAsync(pi);
        await tx.EmitAsync("payment_intent.created", pi);
        return pi;
    }

    /// <summary>Stripe's <c>last_payment_error</c> message when the customer fails 3-D Secure.</summary>
    internal const string AuthenticationFailureMessage =
        "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.";

    /// <summary>
    /// The customer failed 3-D Secure on a payment-mode session, as Stripe records it: the session stays open and points at
    /// its PaymentIntent, which asked for the authentication (<c>payment_intent.requires_action</c>) and is now
    /// <c>requires_payment_method</c> with <c>last_payment_error</c> <c>payment_intent_authentication_failure</c>
    /// (<c>payment_intent.payment_failed</c>); no charge is made.
    /// </summary>
    private static async Task FailAuthenticationAsync(EmulatorTx tx, JsonObject session, JsonObject privateData, JsonObject? customer, JsonObject pm)
    {
        var pi = await CheckoutPaymentIntentAsync(tx, session, privateData, customer, pm);
        pi["status"] = "requires_action";
        pi["next_action"] = new JsonObject
        {
            ["type"] = "use_stripe_sdk",
            ["use_stripe_sdk"] = new JsonObject { ["type"] = "three_d_secure_redirect", ["source"] = Ids.New("src_"), ["stripe_js"] = $"https://hooks.stripe.com/redirect/authenticate/{pi["id"]}" },
        };
        await tx.PutAsync(pi);
        await tx.EmitAsync("payment_intent.requires_action", pi);
        pi["status"] = "requires_payment_method";
        pi["next_action"] = null;
        pi["payment_method"] = null;
        pi["last_payment_error"] = new JsonObject
        {
            ["code"] = "payment_intent_authentication_failure",
            ["doc_url"] = "https://docs.stripe.com/error-codes/payment-intent-authentication-failure",
            ["message"] = AuthenticationFailureMessage,
            ["payment_method"] = pm.DeepClone(),
            ["type"] = "invalid_request_error",
        };
        await tx.PutAsync(pi);
        await tx.EmitAsync("payment_intent.payment_failed", pi);
        session["payment_intent"] = pi["id"]!.GetValue<string>();
        await tx.PutAsync(session);
    }

    /// <summary>
    /// Expires an open session as Stripe does (<c>POST /v1/checkout/sessions/{id}/expire</c>, or its <c>expires_at</c>
    /// passing): <c>status</c> becomes <c>expired</c>, <c>url</c> null, and <c>checkout.session.expired</c> is sent. Stripe
    /// refuses any other status: "Only Checkout Sessions with a status of `open` can be expired."
    /// </summary>
    internal static async Task<JsonObject> ExpireCheckoutSessionAsync(EmulatorTx tx, JsonObject session)
    {
        if (session["status"]!.GetValue<string>() != "open")
            throw StripeApiException.Invalid($"Only Checkout Sessions with a status of `open` can be expired. This Checkout Session has a status of `{session["status"]}`.", "session");
        var before = session.DeepClone().AsObject();
        session["status"] = "expired";
        session["url"] = null;
        await tx.PutAsync(session);
        await tx.EmitAsync("checkout.session.expired", session, before);
        return session;
    }

    /// <summary>Stripe expires every session still open at its <c>expires_at</c> (24 hours after creation unless set): run with the clock.</summary>
    private static async Task<int> ExpireDueCheckoutSessionsAsync(EmulatorTx tx)
    {
        var due = (await tx.ListAsync("checkout.session"))
            .Where(s => s["status"]!.GetValue<string>() == "open" && Unix(s["expires_at"]) <= tx.Now).ToList();
        foreach (var session in due)
            await ExpireCheckoutSessionAsync(tx, session);
        return due.Count;
    }

    /// <summary>True, with the reason, when the hosted page cannot complete <paramref name="session"/> with a <paramref name="paymentMethodType"/>.</summary>
    private static bool CannotComplete(EmulatorTx tx, [NotNullWhen(false)] JsonObject? session, string paymentMethodType, bool acceptedWhenUnlisted,
        [NotNullWhen(true)] out string? refusal)
    {
        refusal = session is null ? "This checkout session does not exist."
            : session["status"]!.GetValue<string>() != "open" ? $"This checkout session is {session["status"]}."
            : Unix(session["expires_at"]) < tx.Now ? "This checkout session has expired."
            : !(session["payment_method_types"]?.AsArray().Any(t => t?.GetValue<string>() == paymentMethodType) ?? acceptedWhenUnlisted)
                ? (paymentMethodType == "card" ? "This checkout does not accept cards." : "This checkout does not accept bank accounts.")
            : null;
        return refusal is not null;
    }

    /// <summary>The session completes (<c>checkout.session.completed</c>); the customer goes to its success URL.</summary>
    private static async Task<CheckoutOutcome> MarkCompleteAsync(EmulatorTx tx, JsonObject session, JsonObject before, string? email)
    {
        session["customer_details"] = StripeShapes.CustomerDetails(email);
        // The hosted page asks for no address and the emulator computes no tax: the calculation is complete at 0.
        if (session["automatic_tax"]?["enabled"]?.GetValue<bool>() == true)
            session["automatic_tax"]!["status"] = "complete";
        session["status"] = "complete";
        session["url"] = null;
        session["collected_information"] = new JsonObject { ["business_name"] = null, ["individual_name"] = null, ["shipping_details"] = null };
        await tx.PutAsync(session);
        await tx.EmitAsync("checkout.session.completed", session, before);
        var sessionId = session["id"]!.GetValue<string>();
        return new CheckoutOutcome(true, session["success_url"]!.GetValue<string>().Replace("{CHECKOUT_SESSION_ID}", sessionId, StringComparison.Ordinal), null);
    }

    private async Task<JsonObject> NewCustomerAsync(EmulatorTx tx, string? email)
    {
        var form = new JsonObject();
        if (email is not null) form["email"] = email;
        return await CreateCustomerAsync(tx, new FormParams(form));
    }

    /// <summary>A checkout session as the hosted page shows it: its line items with product names, or null.</summary>
    public async Task<CheckoutView?> GetCheckoutViewAsync(string sessionId) =>
        await WriteAsync(null, async tx =>
        {
            var session = await tx.FindAsync(sessionId, "checkout.session");
            if (session is null) return null;
            var lines = (await CheckoutLineItemsAsync(tx, session))["data"]!.AsArray()
                .Select(l => new CheckoutLine(l!["description"]!.GetValue<string>(), l["quantity"]!.GetValue<long>(), l["amount_total"]!.GetValue<long>(),
                    l["price"]!["recurring"]?["interval"]?.GetValue<string>()))
                .ToList();
            var customer = await tx.FindAsync(Ref(session["customer"]), "customer");
            return new CheckoutView(
                sessionId,
                session["mode"]!.GetValue<string>(),
                session["status"]!.GetValue<string>(),
                session["currency"]?.GetValue<string>() ?? "usd",
                session["amount_total"]?.GetValue<long>() ?? 0,
                lines,
                session["customer_email"]?.GetValue<string>() ?? customer?["email"]?.GetValue<string>(),
                session["cancel_url"]?.GetValue<string>(),
                session["success_url"]!.GetValue<string>().Replace("{CHECKOUT_SESSION_ID}", sessionId, StringComparison.Ordinal),
                session["payment_method_types"]?.AsArray().Select(t => t!.GetValue<string>()).ToList() ?? ["card"]);
        });
}

public sealed record CheckoutLine(string Description, long Quantity, long AmountMinor, string? Interval);

public sealed record CheckoutView(string Id, string Mode, string Status, string Currency, long AmountTotalMinor,
    IReadOnlyList<CheckoutLine> Lines, string? Email, string? CancelUrl, string SuccessUrl, IReadOnlyList<string> PaymentMethodTypes)
{
    public bool TakesCards => PaymentMethodTypes.Contains("card");

    /// <summary>A delayed bank debit is offered (one-time payments and subscriptions).</summary>
    public bool TakesBankAccounts => PaymentMethodTypes.Contains("us_bank_account") && Mode is "payment" or "subscription";
}
