using System.Text.Json.Nodes;

namespace GenSaaS.StripeEmulator;

public sealed partial class EmulatedStripe
{
    /// <summary>Stripe's test payment method tokens, usable wherever a payment method id is.</summary>
    private static readonly Dictionary<string, string> TestTokens = new(StringComparer.Ordinal)
    {
        ["pm_card_visa"] = TestCard.Visa,
        ["pm_card_mastercard"] = "5555555555554444",
        ["pm_card_chargeDeclined"] = TestCard.VisaDeclined,
        ["pm_card_visa_chargeDeclined"] = TestCard.VisaDeclined,
        ["pm_card_chargeDeclinedInsufficientFunds"] = TestCard.VisaInsufficientFunds,
        ["pm_card_visa_chargeDeclinedInsufficientFunds"] = TestCard.VisaInsufficientFunds,
        ["pm_card_chargeCustomerFail"] = TestCard.VisaDeclinedAfterAttach,
        ["pm_card_authenticationRequired"] = TestCard.VisaAuthenticationAlways,
        ["pm_card_authenticationRequiredOnSetup"] = TestCard.VisaAuthenticationOnSetup,
    };

    /// <summary>Private mark on a payment method set up with 3-D Secure for later off-session use.</summary>
    private const string SetUpForOffSession = "set_up_for_off_session";

    /// <summary>Records that the customer authenticated the card while saving it, so off-session use needs no more for cards that allow it.</summary>
    internal static async Task MarkSetUpForOffSessionAsync(EmulatorTx tx, JsonObject pm) =>
        await tx.PutAsync(pm, privateData: new JsonObject { [SetUpForOffSession] = true });

    internal static async Task<JsonObject> CreatePaymentMethodAsync(EmulatorTx tx, TestCard card, JsonObject? billingDetails = null)
    {
        var pm = StripeShapes.PaymentMethod(Ids.New("pm_"), tx.Now, card);
        if (billingDetails is not null)
            foreach (var field in new[] { "email", "name" })
                if (billingDetails[field] is JsonValue v) pm["billing_details"]![field] = v.ToString();
        await tx.PutAsync(pm);
        return pm;
    }

    private static async Task<JsonObject> ResolvePaymentMethodAsync(EmulatorTx tx, string id, string param)
    {
        if (TestTokens.TryGetValue(id, out var number))
            return await CreatePaymentMethodAsync(tx, TestCard.Find(number)!);
        return await tx.GetAsync(id, "payment_method", param);
    }

    internal async Task<JsonObject> AttachPaymentMethodAsync(EmulatorTx tx, string id, string customerId)
    {
        var pm = await ResolvePaymentMethodAsync(tx, id, "payment_method");
        var customer = await tx.GetAsync(customerId, "customer", "customer");
        var current = Ref(pm["customer"]);
        if (current == customerId) return pm;
        if (current is not null)
            throw StripeApiException.Invalid("The payment method you provided has already been attached to a customer.", "payment_method", "payment_method_unexpected_state");
        // Stripe checks the card when it is attached: the decline-everywhere test cards fail here already.
        if (TestCard.DeclinedOnSaving(TestCard.BehaviourOfLast4(pm["card"]?["last4"]?.GetValue<string>())) is { } declineCode)
            throw StripeApiException.CardDeclined(declineCode);
        pm["customer"] = customer["id"]!.GetValue<string>();
        await tx.PutAsync(pm);
        await tx.EmitAsync("payment_method.attached", pm);
        return pm;
    }

    internal static async Task<JsonObject> DetachPaymentMethodAsync(EmulatorTx tx, string id)
    {
        var pm = await tx.GetAsync(id, "payment_method");
        if (pm["customer"] is null)
            throw StripeApiException.Invalid("The payment method you provided is not attached to a customer so detachment is impossible.", "payment_method", "payment_method_unexpected_state");
        var customerId = Ref(pm["customer"])!;
        pm["customer"] = null;
        await tx.PutAsync(pm);
        await tx.EmitAsync("payment_method.detached", pm);
        // A detached card can no longer be the customer's default: Stripe clears it (and says so with customer.updated).
        if (await tx.FindAsync(customerId, "customer") is { } customer && Ref(customer["invoice_settings"]?["default_payment_method"]) == id)
        {
            var before = customer.DeepClone().AsObject();
            customer["invoice_settings"]!["default_payment_method"] = null;
            await tx.PutAsync(customer);
            await tx.EmitAsync("customer.updated", customer, before);
        }
        return pm;
    }

    internal async Task<JsonObject> CreatePaymentIntentAsync(EmulatorTx tx, FormParams p)
    {
        var pi = StripeShapes.PaymentIntent(Ids.New("pi_"), tx.Now);
        var amount = p.Long("amount") ?? throw StripeApiException.MissingParam("amount");
        var currency = StripeCurrencies.Check(p.Required("currency"));
        StripeCurrencies.EnsureChargeable(amount, currency);
        pi["amount"] = amount;
        pi["currency"] = currency;
        var captureMethod = p.Str("capture_method") ?? "automatic";
        if (captureMethod is not ("automatic" or "automatic_async" or "manual"))
            throw StripeApiException.Invalid("Invalid capture_method: must be one of automatic, automatic_async, or manual", "capture_method");
        pi["capture_method"] = captureMethod;
        if (p.Str("customer") is { Length: > 0 } customerId)
            pi["customer"] = (await tx.GetAsync(customerId, "customer", "customer"))["id"]!.GetValue<string>();
        if (p.Has("description")) pi["description"] = p.Str("description");
        if (p.Has("receipt_email")) pi["receipt_email"] = p.Str("receipt_email");
        if (p.Str("setup_future_usage") is { Length: > 0 } sfu) pi["setup_future_usage"] = sfu;
        if (p.Str("return_url") is { Length: > 0 } returnUrl) await tx.PutAsync(pi, privateData: new JsonObject { ["return_url"] = returnUrl });
        ApplyPaymentMethodChoice(pi, p);
        if (p.Bool("confirm") == true && p.Str("return_url") is not { Length: > 0 } && AllowsRedirects(pi))
            throw ReturnUrlRequired();
        FormParams.MergeMetadata(pi, p.Obj("metadata"));
        if (p.Str("payment_method") is { Length: > 0 } pmId)
        {
            var pm = await ResolvePaymentMethodAsync(tx, pmId, "payment_method");
            CheckPaymentMethodBelongs(pm, pi);
            pi["payment_method"] = pm["id"]!.GetValue<string>();
            pi["status"] = "requires_confirmation";
        }
        await tx.PutAsync(pi);
        await tx.EmitAsync("payment_intent.created", pi);
        if (p.Bool("confirm") == true)
            return await ConfirmAsync(tx, pi, p.Bool("off_session") == true || p.Str("off_session") is "one_off" or "recurring");
        return pi;
    }

    /// <summary>
    /// As Stripe (API 2026-10-28): explicit <c>allowed_payment_method_types</c> turn automatic payment methods off and are
    /// echoed in <c>allowed_payment_method_types</c> and <c>payment_method_types</c>; without them the intent uses automatic
    /// payment methods, which allow redirects unless told <c>allow_redirects=never</c>.
    /// </summary>
    private static void ApplyPaymentMethodChoice(JsonObject pi, FormParams p)
    {
        var types = p.Strings("allowed_payment_method_types");
        if (types.Count > 0)
        {
            pi["allowed_payment_method_types"] = new JsonArray(types.Select(t => (JsonNode)JsonValue.Create(t)!).ToArray());
            pi["payment_method_types"] = new JsonArray(types.Select(t => (JsonNode)JsonValue.Create(t)!).ToArray());
            pi["automatic_payment_methods"] = null;
            return;
        }
        var automatic = p.Obj("automatic_payment_methods");
        if (automatic is not null && FormParams.Str(automatic, "enabled") is "false")
            return;
        var allowRedirects = FormParams.Str(automatic, "allow_redirects") ?? "always";
        if (allowRedirects is not ("always" or "never"))
            throw StripeApiException.Invalid("Invalid automatic_payment_methods[allow_redirects]: must be one of always or never", "automatic_payment_methods[allow_redirects]");
        pi["automatic_payment_methods"] = new JsonObject { ["allow_redirects"] = allowRedirects, ["enabled"] = true };
    }

    /// <summary>Automatic payment methods that may redirect (<c>allow_redirects=always</c>, the default): confirming needs a <c>return_url</c>.</summary>
    private static bool AllowsRedirects(JsonObject pi) =>
        pi["automatic_payment_methods"] is JsonObject automatic
        && automatic["enabled"]?.GetValue<bool>() == true
        && automatic["allow_redirects"]?.GetValue<string>() != "never";

    /// <summary>Stripe's refusal to confirm such an intent without a <c>return_url</c> (400, no code, no param).</summary>
    private static StripeApiException ReturnUrlRequired() => StripeApiException.Invalid(
        "A `return_url` must be specified because this Payment Intent is configured to automatically accept the payment methods enabled in the Dashboard, some of which may require a full page redirect to succeed. If you do not want to accept redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and `automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and Payment Intents.");

    private static void CheckPaymentMethodBelongs(JsonObject pm, JsonObject pi)
    {
        var owner = Ref(pm["customer"]);
        if (owner is not null && owner != Ref(pi["customer"]))
            throw StripeApiException.Invalid($"The provided PaymentMethod {pm["id"]} belongs to another customer; it cannot be used with this PaymentIntent.", "payment_method");
    }

    internal async Task<JsonObject> ConfirmPaymentIntentAsync(EmulatorTx tx, string id, FormParams p)
    {
        var pi = await tx.GetAsync(id, "payment_intent");
        if (pi["status"]!.GetValue<string>() is not ("requires_payment_method" or "requires_confirmation"))
            throw UnexpectedState(pi, "confirm", "requires_payment_method, requires_confirmation");
        if (p.Str("payment_method") is { Length: > 0 } pmId)
        {
            var pm = await ResolvePaymentMethodAsync(tx, pmId, "payment_method");
            CheckPaymentMethodBelongs(pm, pi);
            pi["payment_method"] = pm["id"]!.GetValue<string>();
        }
        if (p.Has("capture_method")) pi["capture_method"] = p.Str("capture_method");
        if (p.Str("return_url") is { Length: > 0 } returnUrl) await tx.PutAsync(pi, privateData: new JsonObject { ["return_url"] = returnUrl });
        else if (AllowsRedirects(pi) && (await tx.PrivateAsync(id))?["return_url"] is null)
            throw ReturnUrlRequired();
        return await ConfirmAsync(tx, pi, p.Bool("off_session") == true || p.Str("off_session") is "one_off" or "recurring");
    }

    private static StripeApiException UnexpectedState(JsonObject pi, string action, string allowed)
    {
        var error = StripeApiException.Invalid(
            $"This PaymentIntent could not be {(action == "confirm" ? "confirmed" : action == "capture" ? "captured" : "canceled")} because it has a status of {pi["status"]}. Only a PaymentIntent with one of the following statuses may be {(action == "confirm" ? "confirmed" : action == "capture" ? "captured" : "canceled")}: {allowed}.",
            null, "payment_intent_unexpected_state");
        error.Extra["payment_intent"] = pi.DeepClone();
        return error;
    }

    /// <summary>Charges the intent's card. A decline keeps the failed charge and intent and answers 402 after commit.</summary>
    private static async Task<JsonObject> ConfirmAsync(EmulatorTx tx, JsonObject pi, bool offSession)
    {
        if (Ref(pi["payment_method"]) is null)
        {
            var error = StripeApiException.Invalid("You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with a payment method, pass `payment_method`.", null, "payment_intent_unexpected_state");
            error.Extra["payment_intent"] = pi.DeepClone();
            throw error;
        }
        var attempt = await ChargeIntentAsync(tx, pi, offSession);
        if (attempt.Decline is not null) tx.DeferredError = attempt.Decline;
        return pi;
    }

    /// <summary>
    /// Attempts the intent's payment on its card and records the outcome with Stripe's events; returns the card
    /// error when the card refused it (the caller decides whether that becomes the API answer).
    /// </summary>
    private static async Task<ChargeAttempt> ChargeIntentAsync(EmulatorTx tx, JsonObject pi, bool offSession)
    {
        var pm = await tx.GetAsync(Ref(pi["payment_method"]), "payment_method", "payment_method");
        var manual = pi["capture_method"]!.GetValue<string>() == "manual";
        var amount = pi["amount"]!.GetValue<long>();
        var verdict = await VerdictAsync(tx, pm, offSession);
        if (verdict == RequiresAuthentication)
        {
            // On session, Stripe hands the 3-D Secure step to the customer's browser: no charge until they pass it.
            var returnUrl = (await tx.PrivateAsync(pi["id"]!.GetValue<string>()))?["return_url"]?.GetValue<string>();
            pi["status"] = "requires_action";
            pi["next_action"] = returnUrl is null
                ? new JsonObject
                {
                    ["type"] = "use_stripe_sdk",
                    ["use_stripe_sdk"] = new JsonObject { ["type"] = "three_d_secure_redirect", ["source"] = Ids.New("src_"), ["stripe_js"] = $"https://hooks.stripe.com/redirect/authenticate/{pi["id"]}" },
                }
                : new JsonObject
                {
                    ["type"] = "redirect_to_url",
                    ["redirect_to_url"] = new JsonObject { ["return_url"] = returnUrl, ["url"] = $"https://hooks.stripe.com/3d_secure_2/hosted?payment_intent={pi["id"]}" },
                };
            await tx.PutAsync(pi);
            await tx.EmitAsync("payment_intent.requires_action", pi);
            return new ChargeAttempt(null, RequiresAction: true);
        }
        var (charge, declineCode) = await ChargeAsync(tx, pm, amount, pi["currency"]!.GetValue<string>(), Ref(pi["customer"]), pi["id"]!.GetValue<string>(),
            pi["description"]?.GetValue<string>(), pi["metadata"]!.AsObject(), offSession, manual, verdict);
        pi["latest_charge"] = charge["id"]!.GetValue<string>();

        if (declineCode is not null)
        {
            var error = StripeApiException.CardDeclined(declineCode, charge["id"]!.GetValue<string>());
            pi["status"] = "requires_payment_method";
            pi["payment_method"] = null;
            var lastError = error.ToJson()["error"]!.DeepClone().AsObject();
            lastError["payment_method"] = pm.DeepClone();
            pi["last_payment_error"] = lastError;
            await tx.PutAsync(pi);
            await tx.EmitAsync("charge.failed", charge);
            await tx.EmitAsync("payment_intent.payment_failed", pi);
            error.Extra["payment_intent"] = pi.DeepClone();
            error.Extra["payment_method"] = pm.DeepClone();
            return new ChargeAttempt(error, RequiresAction: false);
        }

        pi["last_payment_error"] = null;
        if (manual)
        {
            pi["status"] = "requires_capture";
            pi["amount_capturable"] = amount;
            await tx.PutAsync(pi);
            await tx.EmitAsync("charge.succeeded", charge);
            await tx.EmitAsync("payment_intent.amount_capturable_updated", pi);
        }
        else
        {
            pi["status"] = "succeeded";
            pi["amount_received"] = amount;
            await tx.PutAsync(pi);
            await tx.EmitAsync("charge.succeeded", charge);
            await tx.EmitAsync("payment_intent.succeeded", pi);
        }
        return new ChargeAttempt(null, RequiresAction: false);
    }

    /// <summary>How a payment attempt ended: declined (the card error to answer), waiting for 3-D Secure, or paid (neither).</summary>
    private sealed record ChargeAttempt(StripeApiException? Decline, bool RequiresAction)
    {
        public bool Paid => Decline is null && !RequiresAction;
    }

    private const string RequiresAuthentication = "\0requires_action";

    /// <summary>
    /// What the test card does with this attempt: null when it pays, a decline code, or <see cref="RequiresAuthentication"/>.
    /// 3-D Secure cards pass when the customer has just authenticated on Stripe's page (<see cref="EmulatorTx.AuthenticatedPaymentMethod"/>);
    /// 4000 0025 0000 3155 also passes once set up with authentication; off session they are declined <c>authentication_required</c>.
    /// </summary>
    private static async Task<string?> VerdictAsync(EmulatorTx tx, JsonObject pm, bool offSession)
    {
        var pmId = pm["id"]!.GetValue<string>();
        var authenticatedNow = !offSession && tx.AuthenticatedPaymentMethod == pmId;
        switch (TestCard.BehaviourOfLast4(pm["card"]?["last4"]?.GetValue<string>()))
        {
            case CardBehaviour.DeclinedAlways or CardBehaviour.DeclinedAfterAttach:
                return "generic_decline";
            case CardBehaviour.InsufficientFunds:
                return "insufficient_funds";
            case CardBehaviour.AuthenticationAlways when !authenticatedNow:
                return offSession ? "authentication_required" : RequiresAuthentication;
            case CardBehaviour.AuthenticationOnSetup when !authenticatedNow:
                if ((await tx.PrivateAsync(pmId))?[SetUpForOffSession]?.GetValue<bool>() == true) return null;
                return offSession ? "authentication_required" : RequiresAuthentication;
            default:
                return null;
        }
    }

    /// <summary>One card payment attempt; returns the charge and, when the card refused it, the decline code.</summary>
    private static async Task<(JsonObject Charge, string? DeclineCode)> ChargeAsync(
        EmulatorTx tx, JsonObject pm, long amount, string currency, string? customerId, string paymentIntentId,
        string? description, JsonObject metadata, bool offSession, bool manual, string? declineCode)
    {
        var charge = StripeShapes.Charge(Ids.New("ch_"), tx.Now, pm);
        charge["amount"] = amount;
        charge["currency"] = currency;
        charge["customer"] = customerId;
        charge["payment_intent"] = paymentIntentId;
        charge["description"] = description;
        charge["metadata"] = metadata.DeepClone();
        charge["billing_details"] = pm["billing_details"]!.DeepClone();
        var card = charge["payment_method_details"]!["card"]!;
        card["overcapture"]!["maximum_amount_capturable"] = amount;
        if (declineCode is not null)
        {
            charge["status"] = "failed";
            charge["paid"] = false;
            charge["failure_code"] = declineCode == "authentication_required" ? "authentication_required" : "card_declined";
            charge["failure_message"] = StripeApiException.DeclineMessage(declineCode);
            var networkCode = declineCode switch { "insufficient_funds" => "51", "authentication_required" => "1A", _ => "05" };
            charge["outcome"] = JsonNode.Parse($$"""
                { "advice_code": "try_again_later", "network_advice_code": null, "network_decline_code": "{{networkCode}}",
                  "network_status": "declined_by_network", "reason": "{{declineCode}}", "risk_level": "normal", "risk_score": 20,
                  "seller_message": "The bank returned the decline code `{{declineCode}}`.", "type": "issuer_declined" }
                """);
        }
        else
        {
            card["amount_authorized"] = amount;
            charge["receipt_url"] = $"https://pay.stripe.com/receipts/emulated/{charge["id"]}";
            if (manual)
                // Merchant-initiated Visa authorisations last about 4 days 18 hours, customer-initiated ones 7 days.
                // No balance transaction until the capture: an authorisation moves no money.
                card["capture_before"] = tx.Now + (long)(offSession ? TimeSpan.FromHours(4 * 24 + 18) : TimeSpan.FromDays(7)).TotalSeconds;
            else
            {
                charge["captured"] = true;
                charge["amount_captured"] = amount;
                await RecordChargeBalanceAsync(tx, charge, amount);
            }
        }
        await tx.PutAsync(charge, paymentIntentId);
        return (charge, declineCode);
    }

    internal static async Task<JsonObject> CapturePaymentIntentAsync(EmulatorTx tx, string id, FormParams p)
    {
        var pi = await tx.GetAsync(id, "payment_intent");
        if (pi["status"]!.GetValue<string>() != "requires_capture")
            throw UnexpectedState(pi, "capture", "requires_capture");
        var capturable = pi["amount_capturable"]!.GetValue<long>();
        var amount = p.Long("amount_to_capture") ?? capturable;
        if (amount <= 0 || amount > capturable)
            throw StripeApiException.Invalid($"The amount_to_capture must be a positive amount no greater than the amount capturable ({capturable}).", "amount_to_capture", "amount_too_large");
        FormParams.MergeMetadata(pi, p.Obj("metadata"));

        var charge = await tx.GetAsync(Ref(pi["latest_charge"]), "charge");
        var chargeBefore = charge.DeepClone().AsObject();
        charge["captured"] = true;
        charge["amount_captured"] = amount;
        // Stripe releases the uncaptured remainder and shows it on the charge as refunded.
        charge["amount_refunded"] = charge["amount"]!.GetValue<long>() - amount;
        charge["refunded"] = false;
        await RecordChargeBalanceAsync(tx, charge, amount);
        await tx.PutAsync(charge, id);

        pi["status"] = "succeeded";
        pi["amount_received"] = amount;
        pi["amount_capturable"] = 0;
        await tx.PutAsync(pi);
        await tx.EmitAsync("charge.captured", charge, chargeBefore);
        await tx.EmitAsync("payment_intent.succeeded", pi);
        return pi;
    }

    internal static async Task<JsonObject> CancelPaymentIntentAsync(EmulatorTx tx, string id, FormParams p)
    {
        var pi = await tx.GetAsync(id, "payment_intent");
        if (pi["status"]!.GetValue<string>() is not ("requires_payment_method" or "requires_capture" or "requires_confirmation" or "requires_action" or "processing"))
            throw UnexpectedState(pi, "cancel", "requires_payment_method, requires_capture, requires_confirmation, requires_action, processing");
        if (Ref(pi["latest_charge"]) is { } chargeId && await tx.FindAsync(chargeId, "charge") is { } charge
            && charge["status"]!.GetValue<string>() == "succeeded" && !charge["captured"]!.GetValue<bool>())
        {
            // Cancelling an authorisation releases it: the uncaptured charge reads as fully refunded.
            charge["amount_refunded"] = charge["amount"]!.GetValue<long>();
            charge["refunded"] = true;
            await tx.PutAsync(charge, id);
        }
        pi["status"] = "canceled";
        pi["canceled_at"] = tx.Now;
        pi["cancellation_reason"] = p.Str("cancellation_reason") is { Length: > 0 } reason ? reason : null;
        pi["amount_capturable"] = 0;
        await tx.PutAsync(pi);
        await tx.EmitAsync("payment_intent.canceled", pi);
        return pi;
    }

    /// <summary>
    /// Stripe cancels an uncaptured authorisation at its charge's <c>payment_method_details.card.capture_before</c> (7 days
    /// customer-initiated, 4 days 18 hours off session): the charge is released (reads as refunded) and <c>charge.expired</c>
    /// is sent, the PaymentIntent becomes <c>canceled</c> with <c>cancellation_reason=automatic</c> and <c>payment_intent.canceled</c> is sent.
    /// </summary>
    private static async Task<int> ExpireHoldsAsync(EmulatorTx tx)
    {
        var expired = 0;
        foreach (var pi in (await tx.ListAsync("payment_intent")).Where(pi => pi["status"]!.GetValue<string>() == "requires_capture").ToList())
        {
            if (Ref(pi["latest_charge"]) is not { } chargeId || await tx.FindAsync(chargeId, "charge") is not { } charge)
                continue;
            var deadline = charge["payment_method_details"]?["card"]?["capture_before"]?.GetValue<long>()
                ?? Unix(charge["created"]) + (long)TimeSpan.FromDays(7).TotalSeconds;
            if (deadline > tx.Now)
                continue;
            var chargeBefore = charge.DeepClone().AsObject();
            charge["amount_refunded"] = charge["amount"]!.GetValue<long>();
            charge["refunded"] = true;
            await tx.PutAsync(charge, Ref(pi["id"]));
            await tx.EmitAsync("charge.expired", charge, chargeBefore);
            pi["status"] = "canceled";
            pi["canceled_at"] = tx.Now;
            pi["cancellation_reason"] = "automatic";
            pi["amount_capturable"] = 0;
            await tx.PutAsync(pi);
            await tx.EmitAsync("payment_intent.canceled", pi);
            expired++;
        }
        return expired;
    }

    /// <summary>
    /// Stripe's refusal of a refund larger than the charge has left, in its words with the amounts in the charge's currency:
    /// "Refund amount ($5.00) is greater than charge amount ($4.00)" before any refund, "… is greater than unrefunded amount on
    /// charge ($2.00)" after one (<c>amount_too_large</c>, param <c>amount</c>).
    /// </summary>
    internal static StripeApiException RefundTooLarge(JsonObject charge, long amount)
    {
        var currency = charge["currency"]!.GetValue<string>();
        var total = charge["amount"]!.GetValue<long>();
        var refunded = charge["amount_refunded"]!.GetValue<long>();
        var limit = refunded == 0
            ? $"charge amount ({StripeCurrencies.Display(total, currency)})"
            : $"unrefunded amount on charge ({StripeCurrencies.Display(total - refunded, currency)})";
        return StripeApiException.Invalid($"Refund amount ({StripeCurrencies.Display(amount, currency)}) is greater than {limit}", "amount", "amount_too_large");
    }

    internal static async Task<JsonObject> CreateRefundAsync(EmulatorTx tx, FormParams p)
    {
        JsonObject charge;
        if (p.Str("charge") is { Length: > 0 } chargeId)
            charge = await tx.GetAsync(chargeId, "charge", "charge");
        else if (p.Str("payment_intent") is { Length: > 0 } piId)
        {
            var pi = await tx.GetAsync(piId, "payment_intent", "payment_intent");
            charge = await tx.FindAsync(Ref(pi["latest_charge"]), "charge") is { } c && c["status"]!.GetValue<string>() == "succeeded"
                ? c
                : throw StripeApiException.Invalid($"This PaymentIntent ({piId}) does not have a successful charge to refund.", "payment_intent", "charge_not_refundable");
        }
        else
            throw StripeApiException.MissingParam("charge");

        if (!charge["captured"]!.GetValue<bool>())
            throw StripeApiException.Invalid($"Charge {charge["id"]} has not been captured; cancel its PaymentIntent to release the authorization.", "charge", "charge_not_refundable");
        var refundable = charge["amount"]!.GetValue<long>() - charge["amount_refunded"]!.GetValue<long>();
        if (refundable <= 0)
            throw StripeApiException.Invalid($"Charge {charge["id"]} has already been refunded.", "charge", "charge_already_refunded");
        var amount = p.Long("amount") ?? refundable;
        if (amount <= 0)
            throw StripeApiException.Invalid("This value must be greater than or equal to 1.", "amount");
        if (amount > refundable)
            throw RefundTooLarge(charge, amount);

        var refund = StripeShapes.Refund(Ids.New("re_"), tx.Now);
        refund["amount"] = amount;
        refund["charge"] = charge["id"]!.GetValue<string>();
        refund["currency"] = charge["currency"]!.GetValue<string>();
        refund["payment_intent"] = Ref(charge["payment_intent"]);
        refund["customer"] = Ref(charge["customer"]);
        refund["payment_method"] = Ref(charge["payment_method"]);
        await RecordRefundBalanceAsync(tx, refund);
        refund["reason"] = p.Str("reason") is { Length: > 0 } reason ? reason : null;
        FormParams.MergeMetadata(refund, p.Obj("metadata"));
        await tx.PutAsync(refund, charge["id"]!.GetValue<string>());

        var before = charge.DeepClone().AsObject();
        charge["amount_refunded"] = charge["amount_refunded"]!.GetValue<long>() + amount;
        charge["refunded"] = charge["amount_refunded"]!.GetValue<long>() == charge["amount"]!.GetValue<long>();
        var refunds = charge["refunds"]!["data"]!.AsArray();
        refunds.Insert(0, refund.DeepClone());
        await tx.PutAsync(charge, Ref(charge["payment_intent"]));
        await tx.EmitAsync("refund.created", refund);
        await tx.EmitAsync("charge.refunded", charge, before);
        return refund;
    }
}
