using System.Text.Json.Nodes;

namespace GenSaaS.StripeEmulator;

public sealed partial class EmulatedStripe
{
    internal static long AddPeriod(long start, JsonObject price)
    {
        var interval = price["recurring"]?["interval"]?.GetValue<string>() ?? "month";
        var count = (int)(price["recurring"]?["interval_count"]?.GetValue<long>() ?? 1);
        var from = DateTimeOffset.FromUnixTimeSeconds(start);
        var to = interval switch
        {
            "day" => from.AddDays(count),
            "week" => from.AddDays(7 * count),
            "year" => from.AddYears(count),
            _ => from.AddMonths(count),
        };
        return to.ToUnixTimeSeconds();
    }

    /// <summary>A subscription created through the API, billed at once on its (or the customer's) default card.</summary>
    internal async Task<JsonObject> CreateSubscriptionAsync(EmulatorTx tx, FormParams p)
    {
        var customer = await tx.GetAsync(p.Required("customer"), "customer", "customer");
        var lineItems = new JsonArray();
        var items = p.Arr("items");
        if (items.Count == 0) throw StripeApiException.MissingParam("items");
        for (var i = 0; i < items.Count; i++)
        {
            var price = await tx.GetAsync(FormParams.Str(items[i] as JsonObject, "price"), "price", $"items[{i}][price]");
            if (price["type"]!.GetValue<string>() != "recurring")
                throw StripeApiException.Invalid($"The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.", $"items[{i}][price]");
            lineItems.Add(new JsonObject { ["price"] = price["id"]!.GetValue<string>(), ["quantity"] = FormParams.Long(items[i] as JsonObject, "quantity") ?? 1 });
        }
        var pmId = p.Str("default_payment_method") is { Length: > 0 } given ? given : null;
        if (pmId is not null && Ref((await tx.GetAsync(pmId, "payment_method", "default_payment_method"))["customer"]) != customer["id"]!.GetValue<string>())
            throw StripeApiException.Invalid($"The customer does not have a payment method with the ID {pmId}. The payment method must be attached to the customer.", "default_payment_method", "resource_missing");
        return await CreateSubscriptionAsync(tx, customer, pmId, lineItems, p.Obj("metadata"), p.Bool("off_session") == true);
    }

    private async Task<JsonObject> CreateSubscriptionAsync(EmulatorTx tx, JsonObject customer, string? paymentMethodId, JsonArray lineItems, JsonObject? metadata, bool offSession = false)
    {
        var sub = StripeShapes.Subscription(Ids.New("sub_"), tx.Now);
        var subId = sub["id"]!.GetValue<string>();
        sub["customer"] = customer["id"]!.GetValue<string>();
        sub["default_payment_method"] = paymentMethodId;
        FormParams.MergeMetadata(sub, metadata);
        var items = sub["items"]!["data"]!.AsArray();
        foreach (var line in lineItems)
        {
            var price = await tx.GetAsync(line!["price"]!.GetValue<string>(), "price");
            sub["currency"] = price["currency"]!.GetValue<string>();
            var item = StripeShapes.SubscriptionItem(Ids.New("si_"), subId, tx.Now, price, tx.Now, AddPeriod(tx.Now, price));
            item["quantity"] = line["quantity"]!.GetValue<long>();
            items.Add(item);
        }
        // As at Stripe: the subscription starts incomplete, its first invoice is paid, and then it turns active.
        sub["status"] = "incomplete";
        await tx.PutAsync(sub);
        await tx.EmitAsync("customer.subscription.created", sub);

        var before = sub.DeepClone().AsObject();
        var (invoice, paid) = await InvoiceSubscriptionAsync(tx, sub, "subscription_create", offSession, (tx.Now, tx.Now));
        sub["latest_invoice"] = invoice["id"]!.GetValue<string>();
        sub["status"] = paid ? "active" : "incomplete";
        await tx.PutAsync(sub);
        await tx.EmitAsync("customer.subscription.updated", sub, before);
        return sub;
    }

    /// <summary>Bills the subscription's current period on its default card, with the events Stripe sends for it.</summary>
    /// <param name="invoicePeriod">What Stripe puts in the invoice's own period: the period just ended for a renewal.</param>
    private static async Task<(JsonObject Invoice, bool Paid)> InvoiceSubscriptionAsync(EmulatorTx tx, JsonObject sub, string billingReason, bool offSession, (long Start, long End) invoicePeriod)
    {
        var subId = sub["id"]!.GetValue<string>();
        var customer = await tx.GetAsync(Ref(sub["customer"]), "customer");
        var invoice = StripeShapes.Invoice(Ids.New("in_"), tx.Now);
        var invoiceId = invoice["id"]!.GetValue<string>();
        invoice["billing_reason"] = billingReason;
        invoice["customer"] = customer["id"]!.GetValue<string>();
        invoice["customer_email"] = customer["email"]?.DeepClone();
        invoice["customer_name"] = customer["name"]?.DeepClone();
        invoice["currency"] = sub["currency"]!.GetValue<string>();
        invoice["subscription"] = subId;
        invoice["period_start"] = invoicePeriod.Start;
        invoice["period_end"] = invoicePeriod.End;
        invoice["parent"] = new JsonObject
        {
            ["quote_details"] = null,
            ["subscription_details"] = new JsonObject { ["metadata"] = sub["metadata"]!.DeepClone(), ["subscription"] = subId },
            ["type"] = "subscription_details",
        };
        long total = 0;
        var lines = invoice["lines"]!["data"]!.AsArray();
        foreach (var item in sub["items"]!["data"]!.AsArray())
        {
            var price = item!["price"]!.AsObject();
            var line = StripeShapes.InvoiceLine(invoiceId, subId, item["id"]!.GetValue<string>(), price,
                Unix(item["current_period_start"]), Unix(item["current_period_end"]));
            var quantity = item["quantity"]!.GetValue<long>();
            var amount = price["unit_amount"]!.GetValue<long>() * quantity;
            line["amount"] = amount;
            line["subtotal"] = amount;
            line["quantity"] = quantity;
            line["quantity_decimal"] = quantity.ToString(System.Globalization.CultureInfo.InvariantCulture);
            lines.Add(line);
            total += amount;
        }
        foreach (var field in new[] { "amount_due", "amount_remaining", "subtotal", "subtotal_excluding_tax", "total", "total_excluding_tax" })
            invoice[field] = total;
        var sequence = customer["next_invoice_sequence"]!.GetValue<long>();
        invoice["number"] = $"{customer["invoice_prefix"]}-{sequence:0000}";
        customer["next_invoice_sequence"] = sequence + 1;
        await tx.PutAsync(customer);
        await tx.PutAsync(invoice, subId);
        await tx.EmitAsync("invoice.created", invoice);

        var draft = invoice.DeepClone().AsObject();
        invoice["status"] = "open";
        invoice["status_transitions"]!["finalized_at"] = tx.Now;
        invoice["hosted_invoice_url"] = $"https://invoice.stripe.com/i/emulated/{invoiceId}";
        await tx.PutAsync(invoice, subId);
        await tx.EmitAsync("invoice.finalized", invoice, draft);

        var pmId = Ref(sub["default_payment_method"]) ?? Ref(customer["invoice_settings"]?["default_payment_method"]);
        var paid = await PayInvoiceAsync(tx, invoice, pmId, offSession);
        return (invoice, paid);
    }

    /// <summary>One payment attempt on an open invoice with the card, with the invoice events Stripe sends either way.</summary>
    private static async Task<bool> PayInvoiceAsync(EmulatorTx tx, JsonObject invoice, string? pmId, bool offSession)
    {
        var subId = invoice["parent"]?["subscription_details"]?["subscription"]?.GetValue<string>();
        var total = invoice["amount_remaining"]!.GetValue<long>();
        var pm = await tx.FindAsync(pmId, "payment_method");
        var open = invoice.DeepClone().AsObject();
        invoice["attempted"] = true;
        invoice["attempt_count"] = invoice["attempt_count"]!.GetValue<long>() + 1;
        invoice["default_payment_method"] = pmId;
        var actionRequired = false;
        if (total == 0 || pm is not null)
        {
            var declined = false;
            if (total > 0)
            {
                var pi = StripeShapes.PaymentIntent(Ids.New("pi_"), tx.Now);
                pi["amount"] = total;
                pi["currency"] = invoice["currency"]!.GetValue<string>();
                pi["customer"] = invoice["customer"]!.GetValue<string>();
                pi["payment_method"] = pmId;
                pi["description"] = invoice["billing_reason"]!.GetValue<string>() == "subscription_create" ? "Subscription creation" : "Subscription update";
                pi["status"] = "requires_confirmation";
                await tx.PutAsync(pi);
                await tx.EmitAsync("payment_intent.created", pi);
                var attempt = await ChargeIntentAsync(tx, pi, offSession);
                declined = !attempt.Paid;
                actionRequired = attempt.RequiresAction;
            }
            if (!declined)
            {
                invoice["status"] = "paid";
                invoice["amount_paid"] = invoice["amount_paid"]!.GetValue<long>() + total;
                invoice["amount_remaining"] = 0;
                invoice["next_payment_attempt"] = null;
                invoice["status_transitions"]!["paid_at"] = tx.Now;
                invoice["invoice_pdf"] = $"https://pay.stripe.com/invoice/emulated/{invoice["id"]}/pdf";
                await tx.PutAsync(invoice, subId);
                await tx.EmitAsync("invoice.paid", invoice, open);
                await tx.EmitAsync("invoice.payment_succeeded", invoice, open);
                return true;
            }
        }
        if (actionRequired)
        {
            // The customer must pass 3-D Secure on the invoice's page; Stripe says so instead of calling it a failure.
            await tx.PutAsync(invoice, subId);
            await tx.EmitAsync("invoice.payment_action_required", invoice, open);
            return false;
        }
        // Stripe's default smart retries try again within days; the emulator records when, and leaves the invoice open.
        invoice["next_payment_attempt"] = tx.Now + (long)TimeSpan.FromDays(3).TotalSeconds;
        await tx.PutAsync(invoice, subId);
        await tx.EmitAsync("invoice.payment_failed", invoice, open);
        return false;
    }

    /// <summary>A past-due subscription's open invoice paid with a new card, as Stripe does when the customer updates it.</summary>
    private static async Task RetryPastDueAsync(EmulatorTx tx, string subscriptionId, string pmId)
    {
        var sub = await tx.GetAsync(subscriptionId, "subscription");
        if (sub["status"]!.GetValue<string>() != "past_due") return;
        var invoice = await tx.FindAsync(Ref(sub["latest_invoice"]), "invoice");
        if (invoice is null || invoice["status"]!.GetValue<string>() != "open") return;
        if (!await PayInvoiceAsync(tx, invoice, pmId, offSession: false)) return;
        var before = sub.DeepClone().AsObject();
        sub["status"] = "active";
        await tx.PutAsync(sub);
        await tx.EmitAsync("customer.subscription.updated", sub, before);
    }

    internal static async Task<JsonObject> UpdateSubscriptionAsync(EmulatorTx tx, string id, FormParams p)
    {
        var sub = await tx.GetAsync(id, "subscription");
        if (sub["status"]!.GetValue<string>() is "canceled" or "incomplete_expired")
            throw StripeApiException.Invalid("A canceled subscription can only update its cancellation_details and metadata.", null, "resource_missing");
        var before = sub.DeepClone().AsObject();
        if (p.Bool("cancel_at_period_end") is { } atPeriodEnd)
            SetCancelAtPeriodEnd(tx, sub, atPeriodEnd);
        FormParams.MergeMetadata(sub, p.Obj("metadata"));
        if (p.Has("default_payment_method"))
        {
            var pmId = p.Str("default_payment_method");
            if (!string.IsNullOrEmpty(pmId))
            {
                var pm = await tx.GetAsync(pmId, "payment_method", "default_payment_method");
                if (Ref(pm["customer"]) != Ref(sub["customer"]))
                    throw StripeApiException.Invalid($"The customer does not have a payment method with the ID {pmId}. The payment method must be attached to the customer.", "default_payment_method", "resource_missing");
            }
            sub["default_payment_method"] = string.IsNullOrEmpty(pmId) ? null : pmId;
        }
        await tx.PutAsync(sub);
        if (!JsonNode.DeepEquals(before, sub))
            await tx.EmitAsync("customer.subscription.updated", sub, before);
        return sub;
    }

    private static void SetCancelAtPeriodEnd(EmulatorTx tx, JsonObject sub, bool atPeriodEnd)
    {
        if (sub["cancel_at_period_end"]!.GetValue<bool>() == atPeriodEnd) return;
        sub["cancel_at_period_end"] = atPeriodEnd;
        sub["cancel_at"] = atPeriodEnd ? PeriodEnd(sub) : null;
        sub["canceled_at"] = atPeriodEnd ? tx.Now : null;
        sub["cancellation_details"] = new JsonObject { ["comment"] = null, ["feedback"] = null, ["reason"] = atPeriodEnd ? "cancellation_requested" : null };
    }

    internal static long PeriodEnd(JsonObject sub) => sub["items"]!["data"]!.AsArray().Select(i => Unix(i!["current_period_end"])).DefaultIfEmpty(0).Min();

    internal static async Task<JsonObject> CancelSubscriptionAsync(EmulatorTx tx, string id, FormParams p)
    {
        var sub = await tx.GetAsync(id, "subscription");
        if (sub["status"]!.GetValue<string>() == "canceled")
            throw StripeApiException.Invalid($"No such subscription: '{id}'; it has already been canceled.", "id", "resource_missing");
        sub["status"] = "canceled";
        sub["canceled_at"] = tx.Now;
        sub["ended_at"] = tx.Now;
        sub["cancellation_details"] = new JsonObject
        {
            ["comment"] = FormParams.Str(p.Obj("cancellation_details"), "comment"),
            ["feedback"] = FormParams.Str(p.Obj("cancellation_details"), "feedback"),
            ["reason"] = "cancellation_requested",
        };
        await tx.PutAsync(sub);
        await tx.EmitAsync("customer.subscription.deleted", sub);
        return sub;
    }

    /// <summary>
    /// Ends every subscription period that the clock has passed: renews it and bills the new period, or ends it
    /// when it was set to cancel at period end. A failed renewal leaves the subscription past_due, as Stripe does.
    /// </summary>
    private static async Task<int> RunBillingCyclesAsync(EmulatorTx tx)
    {
        var processed = 0;
        for (var round = 0; round < 1000; round++)
        {
            var due = (await tx.ListAsync("subscription"))
                .Where(s => s["status"]!.GetValue<string>() is "active" or "trialing" && PeriodEnd(s) <= tx.Now)
                .OrderBy(PeriodEnd)
                .ToList();
            if (due.Count == 0) break;
            foreach (var sub in due)
            {
                processed++;
                var before = sub.DeepClone().AsObject();
                var periodEnd = PeriodEnd(sub);
                if (sub["cancel_at_period_end"]!.GetValue<bool>())
                {
                    sub["status"] = "canceled";
                    sub["ended_at"] = periodEnd;
                    await tx.PutAsync(sub);
                    await tx.EmitAsync("customer.subscription.deleted", sub);
                    continue;
                }
                var periodStart = sub["items"]!["data"]!.AsArray().Select(i => Unix(i!["current_period_start"])).Min();
                foreach (var item in sub["items"]!["data"]!.AsArray())
                {
                    item!["current_period_start"] = periodEnd;
                    item["current_period_end"] = AddPeriod(periodEnd, item["price"]!.AsObject());
                }
                var (invoice, paid) = await InvoiceSubscriptionAsync(tx, sub, "subscription_cycle", offSession: true, (periodStart, periodEnd));
                sub["latest_invoice"] = invoice["id"]!.GetValue<string>();
                sub["status"] = paid ? "active" : "past_due";
                await tx.PutAsync(sub);
                await tx.EmitAsync("customer.subscription.updated", sub, before);
            }
        }
        return processed;
    }
}
