using System.Text.Json.Nodes;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// Stripe's object shapes as the API version Stripe.net pins returns them. Every field Stripe sends is here,
/// even those the emulator never fills, because Stripe.net and the app read them as typed properties.
/// Fields Stripe documents as nullable are null until something would set them.
/// </summary>
internal static class StripeShapes
{
    private static JsonObject Parse(string json) => JsonNode.Parse(json)!.AsObject();

    public static JsonObject EmptyAddress() => Parse("""{ "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null }""");

    public static JsonObject List(string url, IEnumerable<JsonNode> items, bool hasMore = false) => new()
    {
        ["object"] = "list",
        ["data"] = new JsonArray(items.Select(i => i.DeepClone()).ToArray()),
        ["has_more"] = hasMore,
        ["url"] = url,
    };

    public static JsonObject Customer(string id, long created) => Parse($$"""
        {
          "id": "{{id}}", "object": "customer", "address": null, "balance": 0, "created": {{created}}, "currency": null,
          "default_source": null, "delinquent": false, "description": null, "discount": null, "email": null,
          "invoice_prefix": "{{id[^7..].ToUpperInvariant()}}",
          "invoice_settings": { "custom_fields": null, "default_payment_method": null, "footer": null,
            "rendering_options": null },
          "livemode": false, "metadata": {}, "name": null, "next_invoice_sequence": 1, "phone": null,
          "preferred_locales": [], "shipping": null, "tax_exempt": "none", "test_clock": null, "customer_account": null
        }
        """);

    public static JsonObject Product(string id, long created) => Parse($$"""
        {
          "id": "{{id}}", "object": "product", "active": true, "created": {{created}}, "default_price": null,
          "description": null, "images": [], "livemode": false, "marketing_features": [], "metadata": {}, "name": "",
          "package_dimensions": null, "shippable": null, "statement_descriptor": null, "tax_code": null,
          "unit_label": null, "updated": {{created}}, "url": null, "type": "service"
        }
        """);

    public static JsonObject Price(string id, long created) => Parse($$"""
        {
          "id": "{{id}}", "object": "price", "active": true, "billing_scheme": "per_unit", "created": {{created}},
          "currency": "usd", "custom_unit_amount": null, "livemode": false, "lookup_key": null, "metadata": {},
          "nickname": null, "product": null, "recurring": null, "tax_behavior": "unspecified", "tiers_mode": null,
          "transform_quantity": null, "type": "one_time", "unit_amount": 0, "unit_amount_decimal": "0"
        }
        """);

    public static JsonObject Recurring(string interval, long intervalCount) => new()
    {
        ["interval"] = interval,
        ["interval_count"] = intervalCount,
        ["meter"] = null,
        ["usage_type"] = "licensed",
        ["trial_period_days"] = null,
    };

    public static JsonObject CheckoutSession(string id, long created) => Parse($$"""
        {
          "id": "{{id}}", "object": "checkout.session", "after_expiration": null, "allow_promotion_codes": null,
          "amount_subtotal": 0, "amount_total": 0,
          "automatic_tax": { "enabled": false, "liability": null, "status": null, "provider": null },
          "billing_address_collection": null, "cancel_url": null, "client_reference_id": null, "client_secret": null,
          "consent": null, "consent_collection": null, "created": {{created}}, "currency": null, "custom_fields": [],
          "custom_text": { "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null },
          "customer": null, "customer_creation": null, "customer_details": null, "customer_email": null,
          "expires_at": {{created + 86400}}, "invoice": null,
          "invoice_creation": { "enabled": false, "invoice_data": { "account_tax_ids": null, "custom_fields": null,
            "description": null, "footer": null, "issuer": null, "metadata": {}, "rendering_options": null } },
          "livemode": false, "locale": null, "metadata": {}, "mode": "payment", "payment_intent": null,
          "payment_link": null, "payment_method_collection": "always", "payment_method_configuration_details": null,
          "payment_method_options": {}, "payment_method_types": ["card"], "payment_status": "unpaid",
          "phone_number_collection": { "enabled": false }, "recovered_from": null,
          "saved_payment_method_options": { "allow_redisplay_filters": ["always"], "payment_method_remove": null, "payment_method_save": null },
          "setup_intent": null, "shipping_address_collection": null, "shipping_cost": null, "shipping_options": [],
          "status": "open", "submit_type": null, "subscription": null, "success_url": null,
          "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
          "ui_mode": "hosted", "url": null, "adaptive_pricing": { "enabled": false }, "discounts": [],
          "collected_information": null, "permissions": null, "wallet_options": null, "origin_context": null,
          "currency_conversion": null, "customer_account": null, "integration_identifier": null,
          "managed_payments": { "enabled": false }
        }
        """);

    public static JsonObject CustomerDetails(string? email) => new()
    {
        ["address"] = EmptyAddress(),
        ["email"] = email,
        ["name"] = null,
        ["phone"] = null,
        ["tax_exempt"] = "none",
        ["tax_ids"] = new JsonArray(),
        ["business_name"] = null,
        ["individual_name"] = null,
    };

    public static JsonObject SetupIntent(string id, long created) => Parse($$"""
        {
          "id": "{{id}}", "object": "setup_intent", "application": null, "automatic_payment_methods": null,
          "cancellation_reason": null, "client_secret": "{{id}}_secret_{{Ids.Random(24)}}", "created": {{created}},
          "customer": null, "description": null, "flow_directions": null, "last_setup_error": null,
          "latest_attempt": null, "livemode": false, "mandate": null, "metadata": {}, "next_action": null,
          "on_behalf_of": null, "payment_method": null, "payment_method_configuration_details": null,
          "payment_method_options": { "card": { "mandate_options": null, "network": null, "request_three_d_secure": "automatic" } },
          "payment_method_types": ["card"], "single_use_mandate": null, "status": "requires_payment_method",
          "usage": "off_session", "excluded_payment_method_types": null
        }
        """);

    public static JsonObject PaymentMethod(string id, long created, TestCard card) => Parse($$"""
        {
          "id": "{{id}}", "object": "payment_method", "allow_redisplay": "always",
          "billing_details": { "address": { "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null },
            "email": null, "name": null, "phone": null, "tax_id": null },
          "card": { "brand": "{{card.Brand}}",
            "checks": { "address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass" },
            "country": "US", "display_brand": "{{card.Brand}}", "exp_month": {{card.ExpMonth}}, "exp_year": {{card.ExpYear}},
            "fingerprint": "{{card.Fingerprint}}", "funding": "credit",
            "generated_from": null, "last4": "{{card.Last4}}",
            "networks": { "available": ["{{card.Brand}}"], "preferred": null },
            "three_d_secure_usage": { "supported": true }, "wallet": null, "regulated_status": "unregulated" },
          "created": {{created}}, "customer": null, "livemode": false, "metadata": {}, "type": "card",
          "customer_account": null
        }
        """);

    /// <summary>A US bank account payment method as Checkout collects it (Stripe's test bank, routing 110000000).</summary>
    public static JsonObject BankAccountPaymentMethod(string id, long created, string accountNumber) => Parse($$"""
        {
          "id": "{{id}}", "object": "payment_method", "allow_redisplay": "limited",
          "billing_details": { "address": { "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null },
            "email": null, "name": null, "phone": null, "tax_id": null },
          "card": null, "created": {{created}}, "customer": null, "livemode": false, "metadata": {}, "type": "us_bank_account",
          "us_bank_account": { "account_holder_type": "individual", "account_type": "checking", "bank_name": "STRIPE TEST BANK",
            "financial_connections_account": null, "fingerprint": "{{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(accountNumber)))[..16]}}",
            "last4": "{{accountNumber[^4..]}}", "networks": { "preferred": "ach", "supported": ["ach"] }, "routing_number": "110000000",
            "status_details": null },
          "customer_account": null
        }
        """);

    /// <summary>The charge of a bank debit: a card charge's shape with the bank account's payment method details.</summary>
    public static JsonObject BankDebitCharge(string id, long created, JsonObject paymentMethod)
    {
        var cardShaped = new JsonObject
        {
            ["id"] = paymentMethod["id"]!.GetValue<string>(),
            ["card"] = new JsonObject { ["brand"] = "", ["exp_month"] = 0, ["exp_year"] = 0, ["fingerprint"] = "", ["last4"] = "" },
        };
        var charge = Charge(id, created, cardShaped);
        var bank = paymentMethod["us_bank_account"]!;
        charge["payment_method_details"] = new JsonObject
        {
            ["type"] = "us_bank_account",
            ["us_bank_account"] = new JsonObject
            {
                ["account_holder_type"] = bank["account_holder_type"]?.DeepClone(),
                ["account_type"] = bank["account_type"]?.DeepClone(),
                ["bank_name"] = bank["bank_name"]?.DeepClone(),
                ["fingerprint"] = bank["fingerprint"]?.DeepClone(),
                ["last4"] = bank["last4"]?.DeepClone(),
                ["mandate"] = null,
                ["payment_reference"] = null,
                ["routing_number"] = bank["routing_number"]?.DeepClone(),
            },
        };
        charge["outcome"]!["network_status"] = "approved_by_network";
        charge["calculated_statement_descriptor"] = "GENSAAS";
        return charge;
    }

    public static JsonObject PaymentIntent(string id, long created) => Parse($$"""
        {
          "id": "{{id}}", "object": "payment_intent", "amount": 0, "amount_capturable": 0,
          "amount_details": { "tip": {} }, "amount_received": 0, "application": null, "application_fee_amount": null,
          "automatic_payment_methods": null, "canceled_at": null, "cancellation_reason": null,
          "capture_method": "automatic", "client_secret": "{{id}}_secret_{{Ids.Random(24)}}",
          "confirmation_method": "automatic", "created": {{created}}, "currency": "usd", "customer": null,
          "description": null, "last_payment_error": null, "latest_charge": null, "livemode": false,
          "metadata": {}, "next_action": null, "on_behalf_of": null, "payment_method": null,
          "payment_method_configuration_details": null,
          "payment_method_options": { "card": { "installments": null, "mandate_options": null, "network": null, "request_three_d_secure": "automatic" } },
          "allowed_payment_method_types": null, "payment_method_types": ["card"], "processing": null, "receipt_email": null, "review": null,
          "setup_future_usage": null, "shipping": null, "statement_descriptor": null,
          "statement_descriptor_suffix": null, "status": "requires_payment_method", "transfer_data": null,
          "transfer_group": null, "source": null, "excluded_payment_method_types": null, "customer_account": null,
          "managed_payments": { "enabled": false }
        }
        """);

    public static JsonObject Charge(string id, long created, JsonObject paymentMethod) => Parse($$"""
        {
          "id": "{{id}}", "object": "charge", "amount": 0, "amount_captured": 0, "amount_refunded": 0,
          "application": null, "application_fee": null, "application_fee_amount": null,
          "balance_transaction": null,
          "billing_details": { "address": { "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null },
            "email": null, "name": null, "phone": null, "tax_id": null },
          "calculated_statement_descriptor": "GENSAAS", "captured": false, "created": {{created}}, "currency": "usd",
          "customer": null, "description": null, "disputed": false, "failure_balance_transaction": null,
          "failure_code": null, "failure_message": null, "fraud_details": {},
          "livemode": false, "metadata": {},
          "on_behalf_of": null,
          "outcome": { "advice_code": null, "network_advice_code": null, "network_decline_code": null,
            "network_status": "approved_by_network", "reason": null, "risk_level": "normal", "risk_score": 20,
            "seller_message": "Payment complete.", "type": "authorized" },
          "paid": true, "payment_intent": null, "payment_method": "{{paymentMethod["id"]}}",
          "payment_method_details": { "card": {
              "amount_authorized": 0, "brand": "{{paymentMethod["card"]!["brand"]}}",
              "checks": { "address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass" },
              "country": "US", "exp_month": {{paymentMethod["card"]!["exp_month"]}}, "exp_year": {{paymentMethod["card"]!["exp_year"]}},
              "extended_authorization": { "status": "disabled" },
              "fingerprint": "{{paymentMethod["card"]!["fingerprint"]}}", "funding": "credit",
              "incremental_authorization": { "status": "unavailable" }, "installments": null,
              "last4": "{{paymentMethod["card"]!["last4"]}}", "mandate": null, "multicapture": { "status": "unavailable" },
              "network": "{{paymentMethod["card"]!["brand"]}}", "network_token": { "used": false },
              "overcapture": { "maximum_amount_capturable": 0, "status": "unavailable" },
              "three_d_secure": null, "wallet": null, "authorization_code": "123456", "regulated_status": "unregulated",
              "network_transaction_id": "{{Ids.Random(15)}}", "transaction_link_id": null },
            "type": "card" },
          "receipt_email": null, "receipt_number": null, "receipt_url": null, "refunded": false,
          "refunds": { "object": "list", "data": [], "has_more": false, "url": "/v1/charges/{{id}}/refunds" },
          "review": null, "shipping": null, "source_transfer": null, "statement_descriptor": null,
          "statement_descriptor_suffix": null, "status": "succeeded", "transfer_data": null, "transfer_group": null,
          "source": null
        }
        """);

    public static JsonObject Refund(string id, long created) => Parse($$"""
        {
          "id": "{{id}}", "object": "refund", "amount": 0, "balance_transaction": null, "charge": null,
          "created": {{created}}, "currency": "usd",
          "destination_details": { "card": { "reference": null, "reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund" }, "type": "card" },
          "metadata": {}, "payment_intent": null, "reason": null, "receipt_number": null,
          "source_transfer_reversal": null, "status": "succeeded", "transfer_reversal": null, "customer": null,
          "customer_account": null, "payment_method": null
        }
        """);

    public static JsonObject Subscription(string id, long created) => Parse($$"""
        {
          "id": "{{id}}", "object": "subscription", "application": null, "application_fee_percent": null,
          "automatic_tax": { "enabled": false, "liability": null, "disabled_reason": null },
          "billing_cycle_anchor": {{created}},
          "billing_cycle_anchor_config": null, "cancel_at": null, "canceled_at": null,
          "cancellation_details": { "comment": null, "feedback": null, "reason": null },
          "collection_method": "charge_automatically", "created": {{created}}, "currency": "usd", "customer": null,
          "days_until_due": null, "default_payment_method": null, "default_source": null, "default_tax_rates": [],
          "description": null, "discounts": [], "ended_at": null,
          "invoice_settings": { "account_tax_ids": null, "issuer": { "type": "self" }, "custom_fields": null, "description": null, "footer": null },
          "items": { "object": "list", "data": [], "has_more": false, "url": "/v1/subscription_items?subscription={{id}}" },
          "latest_invoice": null, "livemode": false, "metadata": {}, "next_pending_invoice_item_invoice": null,
          "on_behalf_of": null, "pause_collection": null,
          "payment_settings": { "payment_method_options": null, "payment_method_types": null, "save_default_payment_method": "off" },
          "pending_invoice_item_interval": null, "pending_setup_intent": null, "pending_update": null,
          "schedule": null, "start_date": {{created}}, "status": "incomplete", "test_clock": null,
          "transfer_data": null, "trial_end": null,
          "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
          "trial_start": null, "cancel_at_period_end": false, "billing_thresholds": null,
          "billing_mode": { "type": "classic", "flexible": null }, "customer_account": null,
          "managed_payments": { "enabled": false }, "billing_schedules": []
        }
        """);

    public static JsonObject SubscriptionItem(string id, string subscriptionId, long created, JsonObject price, long periodStart, long periodEnd)
    {
        var item = Parse($$"""
            {
              "id": "{{id}}", "object": "subscription_item", "created": {{created}}, "discounts": [], "metadata": {},
              "price": null, "quantity": 1, "subscription": "{{subscriptionId}}", "tax_rates": [], "plan": null,
              "current_period_end": {{periodEnd}}, "current_period_start": {{periodStart}}, "billing_thresholds": null
            }
            """);
        item["price"] = price.DeepClone();
        item["plan"] = Plan(price);
        return item;
    }

    /// <summary>The legacy plan view of a recurring price, which Stripe still embeds in subscription items.</summary>
    private static JsonObject Plan(JsonObject price) => new()
    {
        ["id"] = price["id"]!.GetValue<string>(),
        ["object"] = "plan",
        ["active"] = true,
        ["amount"] = price["unit_amount"]!.GetValue<long>(),
        ["amount_decimal"] = price["unit_amount_decimal"]!.GetValue<string>(),
        ["billing_scheme"] = "per_unit",
        ["created"] = price["created"]!.GetValue<long>(),
        ["currency"] = price["currency"]!.GetValue<string>(),
        ["interval"] = price["recurring"]?["interval"]?.GetValue<string>() ?? "month",
        ["interval_count"] = price["recurring"]?["interval_count"]?.GetValue<long>() ?? 1,
        ["livemode"] = false,
        ["metadata"] = new JsonObject(),
        ["meter"] = null,
        ["nickname"] = null,
        ["product"] = price["product"]?.GetValue<string>(),
        ["tiers_mode"] = null,
        ["transform_usage"] = null,
        ["trial_period_days"] = null,
        ["usage_type"] = "licensed",
    };

    public static JsonObject Invoice(string id, long created) => Parse($$"""
        {
          "id": "{{id}}", "object": "invoice", "account_country": "US", "account_name": "GenSaaS (emulated)",
          "account_tax_ids": null, "amount_due": 0, "amount_paid": 0, "amount_remaining": 0, "amount_shipping": 0,
          "application": null, "attempt_count": 0, "attempted": false, "auto_advance": true,
          "automatic_tax": { "enabled": false, "liability": null, "status": null, "disabled_reason": null, "provider": null },
          "billing_reason": "subscription_cycle", "collection_method": "charge_automatically", "created": {{created}},
          "currency": "usd", "custom_fields": null, "customer": null, "customer_address": null,
          "customer_email": null, "customer_name": null, "customer_phone": null, "customer_shipping": null,
          "customer_tax_exempt": "none", "customer_tax_ids": [], "default_payment_method": null,
          "default_source": null, "default_tax_rates": [], "description": null, "discounts": [], "due_date": null,
          "effective_at": {{created}}, "ending_balance": 0, "footer": null, "from_invoice": null,
          "hosted_invoice_url": null, "invoice_pdf": null, "issuer": { "type": "self" },
          "last_finalization_error": null, "latest_revision": null,
          "lines": { "object": "list", "data": [], "has_more": false, "url": "/v1/invoices/{{id}}/lines" },
          "livemode": false, "metadata": {}, "next_payment_attempt": null, "number": null, "on_behalf_of": null,
          "payment_settings": { "default_mandate": null, "payment_method_options": null, "payment_method_types": null },
          "period_end": {{created}}, "period_start": {{created}}, "post_payment_credit_notes_amount": 0,
          "pre_payment_credit_notes_amount": 0, "receipt_number": null,
          "rendering": { "amount_tax_display": null, "pdf": { "page_size": "auto" }, "template": null, "template_version": null },
          "shipping_cost": null, "shipping_details": null, "starting_balance": 0, "statement_descriptor": null,
          "status": "draft",
          "status_transitions": { "finalized_at": null, "marked_uncollectible_at": null, "paid_at": null, "voided_at": null },
          "subscription": null, "subtotal": 0, "subtotal_excluding_tax": 0, "test_clock": null, "total": 0,
          "total_discount_amounts": [], "total_excluding_tax": 0, "webhooks_delivered_at": null,
          "automatically_finalizes_at": null, "total_pretax_credit_amounts": [], "total_taxes": [],
          "amount_overpaid": 0,
          "parent": null, "customer_account": null
        }
        """);

    public static JsonObject InvoiceLine(string invoiceId, string subscriptionId, string itemId, JsonObject price, long periodStart, long periodEnd)
    {
        var amount = price["unit_amount"]!.GetValue<long>();
        var line = Parse($$"""
            {
              "id": "il_{{Ids.Random(24)}}", "object": "line_item", "amount": {{amount}}, "currency": "{{price["currency"]}}",
              "description": "1 × {{price["nickname"]?.GetValue<string>() ?? "subscription"}}", "discount_amounts": [],
              "discountable": true, "discounts": [], "invoice": "{{invoiceId}}", "livemode": false, "metadata": {},
              "period": { "end": {{periodEnd}}, "start": {{periodStart}} }, "quantity": 1, "subscription": "{{subscriptionId}}",
              "pretax_credit_amounts": [], "taxes": [],
              "parent": {
                "invoice_item_details": null,
                "subscription_item_details": { "invoice_item": null, "proration": false, "proration_details": { "credited_items": null },
                  "subscription": "{{subscriptionId}}", "subscription_item": "{{itemId}}" },
                "type": "subscription_item_details" },
              "pricing": { "price_details": { "price": "{{price["id"]}}", "product": "{{price["product"]}}" }, "type": "price_details", "unit_amount_decimal": "{{amount}}" },
              "subtotal": {{amount}}, "quantity_decimal": "1"
            }
            """);
        return line;
    }

    public static JsonObject PortalSession(string id, long created) => Parse($$"""
        {
          "id": "{{id}}", "object": "billing_portal.session", "configuration": "bpc_emulator_default",
          "created": {{created}}, "customer": null, "flow": null, "livemode": false, "locale": null,
          "on_behalf_of": null, "return_url": null, "url": null, "customer_account": null
        }
        """);

    public static JsonObject PortalConfiguration(string id, long created) => Parse($$"""
        {
          "id": "{{id}}", "object": "billing_portal.configuration", "active": true, "application": null,
          "business_profile": { "headline": null, "privacy_policy_url": null, "terms_of_service_url": null },
          "created": {{created}}, "default_return_url": null,
          "features": {
            "customer_update": { "allowed_updates": [], "enabled": false },
            "invoice_history": { "enabled": false },
            "payment_method_update": { "enabled": false, "payment_method_configuration": null },
            "subscription_cancel": {
              "cancellation_reason": { "enabled": false, "options": [] },
              "enabled": false, "mode": "at_period_end", "proration_behavior": "none"
            },
            "subscription_update": { "default_allowed_updates": [], "enabled": false, "products": [], "proration_behavior": "none" }
          },
          "is_default": false, "livemode": false, "login_page": { "enabled": false, "url": null }, "metadata": {}, "name": null,
          "updated": {{created}}
        }
        """);

    public static JsonObject WebhookEndpoint(string id, long created) => Parse($$"""
        {
          "id": "{{id}}", "object": "webhook_endpoint", "api_version": null, "application": null, "created": {{created}},
          "description": null, "enabled_events": [], "livemode": false, "metadata": {}, "status": "enabled", "url": null
        }
        """);

    public static JsonObject Event(string id, string type, long created, string apiVersion, JsonObject data, string? requestId, string? idempotencyKey) => new()
    {
        ["id"] = id,
        ["object"] = "event",
        ["api_version"] = apiVersion,
        ["created"] = created,
        ["data"] = data,
        ["livemode"] = false,
        ["pending_webhooks"] = 1,
        ["request"] = new JsonObject { ["id"] = requestId, ["idempotency_key"] = idempotencyKey },
        ["type"] = type,
    };
}
