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

    private async Task<JsonObject> CreateSubscriptionAsync(EmulatorTx tx, JsonObject customer, string? paymentMethodId, JsonArray lineItems, JsonObject? metadata,
        bool offSession = false, bool automaticTax = false)
    {
        var sub = StripeShapes.Subscription(Ids.New("sub_"), tx.Now);
        var subId = sub["id"]!.GetValue<string>();
        sub["customer"] = customer["id"]!.GetValue<string>();
        sub["default_payment_method"] = paymentMethodId;
        if (automaticTax)
            sub["automatic_tax"] = new JsonObject { ["enabled"] = true, ["liability"] = new JsonObject { ["type"] = "self" }, ["disabled_reason"] = null };
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

    /// <summary>Bills the subscription's first period at once on its default card, as Stripe does when it is created.</summary>
    /// <param name="invoicePeriod">What Stripe puts in the invoice's own period.</param>
    private static async Task<(JsonObject Invoice, bool Paid)> InvoiceSubscriptionAsync(EmulatorTx tx, JsonObject sub, string billingReason, bool offSession, (long Start, long End) invoicePeriod)
    {
        var invoice = await DraftInvoiceAsync(tx, sub, billingReason, invoicePeriod, tx.Now);
        await tx.EmitAsync("invoice.created", invoice);
        await FinalizeInvoiceAsync(tx, invoice, tx.Now);
        var customer = await tx.GetAsync(Ref(sub["customer"]), "customer");
        var pmId = Ref(sub["default_payment_method"]) ?? Ref(customer["invoice_settings"]?["default_payment_method"]);
        // A first invoice that fails leaves the subscription incomplete; Smart Retries do not retry it.
        var paid = await PayInvoiceAsync(tx, invoice, pmId, offSession, nextAttemptOnFailure: null, tx.Now);
        return (invoice, paid);
    }

    /// <summary>A draft invoice for the subscription's current items, saved but not announced (the caller sends <c>invoice.created</c>).</summary>
    private static async Task<JsonObject> DraftInvoiceAsync(EmulatorTx tx, JsonObject sub, string billingReason, (long Start, long End) invoicePeriod, long created)
    {
        var subId = sub["id"]!.GetValue<string>();
        var customer = await tx.GetAsync(Ref(sub["customer"]), "customer");
        var invoice = StripeShapes.Invoice(Ids.New("in_"), created);
        var invoiceId = invoice["id"]!.GetValue<string>();
        invoice["billing_reason"] = billingReason;
        // The emulator computes no tax: an invoice of a subscription with automatic tax says so and adds 0.
        if (sub["automatic_tax"]?["enabled"]?.GetValue<bool>() == true)
            invoice["automatic_tax"] = new JsonObject
            {
                ["enabled"] = true, ["liability"] = new JsonObject { ["type"] = "self" }, ["status"] = "complete", ["disabled_reason"] = null, ["provider"] = "stripe",
            };
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
        return invoice;
    }

    /// <summary>Draft to open, with <c>invoice.finalized</c>.</summary>
    private static async Task FinalizeInvoiceAsync(EmulatorTx tx, JsonObject invoice, long at)
    {
        var subId = invoice["parent"]?["subscription_details"]?["subscription"]?.GetValue<string>();
        var draft = invoice.DeepClone().AsObject();
        invoice["status"] = "open";
        invoice["status_transitions"]!["finalized_at"] = at;
        invoice["automatically_finalizes_at"] = null;
        // Stripe fills both links when the invoice is finalized (null while it is a draft), not when it is paid.
        invoice["hosted_invoice_url"] = $"https://invoice.stripe.com/i/emulated/{invoice["id"]}";
        invoice["invoice_pdf"] = $"https://pay.stripe.com/invoice/emulated/{invoice["id"]}/pdf";
        await tx.PutAsync(invoice, subId);
        await tx.EmitAsync("invoice.finalized", invoice, draft);
    }

    /// <summary>
    /// One payment attempt on an open invoice with the card, with the invoice events Stripe sends either way. Every attempt
    /// confirms the invoice's one PaymentIntent again, as Stripe's retries do. On failure the invoice stays open and
    /// <c>next_payment_attempt</c> says when the next automatic attempt is (null: none).
    /// </summary>
    private static async Task<bool> PayInvoiceAsync(EmulatorTx tx, JsonObject invoice, string? pmId, bool offSession, long? nextAttemptOnFailure, long at)
    {
        var subId = invoice["parent"]?["subscription_details"]?["subscription"]?.GetValue<string>();
        var invoiceId = invoice["id"]!.GetValue<string>();
        var total = invoice["amount_remaining"]!.GetValue<long>();
        var pm = await tx.FindAsync(pmId, "payment_method");
        var open = invoice.DeepClone().AsObject();
        invoice["attempted"] = true;
        invoice["attempt_count"] = invoice["attempt_count"]!.GetValue<long>() + 1;
        invoice["default_payment_method"] = pmId;
        var actionRequired = false;
        if (total > 0 && pm?["type"]?.GetValue<string>() == "us_bank_account")
        {
            // A bank debit is submitted now and answered by the bank later (SettleBankDebitAsync): the invoice stays open.
            await StartInvoiceBankDebitAsync(tx, invoice, pm, total);
            return false;
        }
        if (total == 0 || pm is not null)
        {
            var declined = false;
            if (total > 0)
            {
                var privateData = await tx.PrivateAsync(invoiceId) ?? new JsonObject();
                var pi = await tx.FindAsync(privateData["payment_intent"]?.GetValue<string>(), "payment_intent");
                if (pi is null)
                {
                    pi = StripeShapes.PaymentIntent(Ids.New("pi_"), at);
                    pi["amount"] = total;
                    pi["currency"] = invoice["currency"]!.GetValue<string>();
                    pi["customer"] = invoice["customer"]!.GetValue<string>();
                    pi["description"] = invoice["billing_reason"]!.GetValue<string>() == "subscription_create" ? "Subscription creation" : "Subscription update";
                    pi["payment_method"] = pmId;
                    pi["status"] = "requires_confirmation";
                    await tx.PutAsync(pi);
                    await tx.EmitAsync("payment_intent.created", pi);
                    privateData["payment_intent"] = pi["id"]!.GetValue<string>();
                    await tx.PutAsync(invoice, subId, privateData);
                }
                else
                {
                    pi["payment_method"] = pmId;
                    pi["status"] = "requires_confirmation";
                }
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
                invoice["status_transitions"]!["paid_at"] = at;
                invoice["invoice_pdf"] = $"https://pay.stripe.com/invoice/emulated/{invoiceId}/pdf";
                await tx.PutAsync(invoice, subId);
                await tx.EmitAsync("invoice.updated", invoice, open);
                await tx.EmitAsync("invoice.paid", invoice);
                await tx.EmitAsync("invoice.payment_succeeded", invoice);
                return true;
            }
        }
        if (actionRequired)
        {
            // The customer must pass 3-D Secure on the invoice's page; Stripe says so instead of calling it a failure.
            await tx.PutAsync(invoice, subId);
            await tx.EmitAsync("invoice.updated", invoice, open);
            await tx.EmitAsync("invoice.payment_action_required", invoice);
            return false;
        }
        invoice["next_payment_attempt"] = nextAttemptOnFailure;
        await tx.PutAsync(invoice, subId);
        // As Stripe's subscription webhooks say: a payment that succeeds or fails also updates the invoice (invoice.updated
        // with what changed: attempt_count, attempted, next_payment_attempt), and a failure sends invoice.payment_failed.
        await tx.EmitAsync("invoice.updated", invoice, open);
        await tx.EmitAsync("invoice.payment_failed", invoice);
        return false;
    }

    /// <summary>
    /// When the next automatic attempt is due after <paramref name="failedAttempts"/> failed ones, on a Smart-Retries-like
    /// schedule: <c>RenewalRetries</c> retries spread evenly over <c>RenewalRetryWindowDays</c> from the first attempt
    /// (finalization); null once they are used up.
    /// </summary>
    private static long? NextRetryAt(EmulatorTx tx, JsonObject invoice, long failedAttempts)
    {
        var options = tx.Emulator.Options;
        if (failedAttempts > options.RenewalRetries) return null;
        var first = Unix(invoice["status_transitions"]!["finalized_at"]);
        var window = (long)TimeSpan.FromDays(options.RenewalRetryWindowDays).TotalSeconds;
        return first + window * failedAttempts / options.RenewalRetries;
    }

    /// <summary>
    /// An automatic attempt (the first, an hour after <c>invoice.created</c>, or a retry) on a renewal invoice, and what it
    /// does to the subscription: active again when paid; past_due when it fails; once the retries are used up, canceled,
    /// unpaid or left past_due as <see cref="EmulatorOptions.SubscriptionStatusAfterRetries"/> says.
    /// </summary>
    private static async Task AttemptRenewalAsync(EmulatorTx tx, JsonObject invoice, long at)
    {
        var sub = await tx.GetAsync(invoice["parent"]?["subscription_details"]?["subscription"]?.GetValue<string>(), "subscription");
        if (sub["status"]!.GetValue<string>() is "canceled" or "incomplete_expired")
        {
            // Canceling a subscription stops the automatic collection of its invoices.
            invoice["next_payment_attempt"] = null;
            await tx.PutAsync(invoice, sub["id"]!.GetValue<string>());
            return;
        }
        var customer = await tx.GetAsync(Ref(sub["customer"]), "customer");
        var pmId = Ref(sub["default_payment_method"]) ?? Ref(customer["invoice_settings"]?["default_payment_method"]);
        var failedBefore = invoice["attempt_count"]!.GetValue<long>();
        var next = NextRetryAt(tx, invoice, failedBefore + 1);
        var paid = await PayInvoiceAsync(tx, invoice, pmId, offSession: true, next, at);
        if (!paid && await IsDebitProcessingAsync(tx, invoice)) return;
        var isLatest = Ref(sub["latest_invoice"]) == invoice["id"]!.GetValue<string>();
        var before = sub.DeepClone().AsObject();
        if (paid)
        {
            if (isLatest && sub["status"]!.GetValue<string>() is "past_due" or "unpaid")
            {
                sub["status"] = "active";
                await tx.PutAsync(sub);
                await tx.EmitAsync("customer.subscription.updated", sub, before);
            }
            return;
        }
        if (sub["status"]!.GetValue<string>() is "active" or "trialing")
            sub["status"] = "past_due";
        if (next is null)
        {
            switch (tx.Emulator.Options.SubscriptionStatusAfterRetries)
            {
                case SubscriptionStatusAfterRetries.Canceled:
                    sub["status"] = "canceled";
                    sub["canceled_at"] = at;
                    sub["ended_at"] = at;
                    sub["cancellation_details"] = new JsonObject { ["comment"] = null, ["feedback"] = null, ["reason"] = "payment_failed" };
                    await tx.PutAsync(sub);
                    await tx.EmitAsync("customer.subscription.deleted", sub);
                    return;
                case SubscriptionStatusAfterRetries.Unpaid:
                    sub["status"] = "unpaid";
                    break;
            }
        }
        if (!JsonNode.DeepEquals(before, sub))
        {
            await tx.PutAsync(sub);
            await tx.EmitAsync("customer.subscription.updated", sub, before);
        }
    }

    /// <summary>A past-due (or unpaid) subscription's open invoice paid with a new card, as Stripe does when the customer updates it.</summary>
    private static async Task RetryPastDueAsync(EmulatorTx tx, string subscriptionId, string pmId)
    {
        var sub = await tx.GetAsync(subscriptionId, "subscription");
        if (sub["status"]!.GetValue<string>() is not ("past_due" or "unpaid")) return;
        var invoice = await tx.FindAsync(Ref(sub["latest_invoice"]), "invoice");
        if (invoice is null || invoice["status"]!.GetValue<string>() != "open") return;
        if (!await PayInvoiceAsync(tx, invoice, pmId, offSession: false, invoice["next_payment_attempt"]?.GetValue<long>(), tx.Now)) return;
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

    /// <summary>
    /// <c>GET /v1/invoice_payments</c>: the mapping from an invoice to the PaymentIntent that paid (or tries to pay) it, as
    /// Stripe shows it since invoices no longer name their charge: one <c>invoice_payment</c> per invoice that has a payment,
    /// <c>status</c> <c>paid</c> once the invoice is paid, else <c>open</c>.
    /// </summary>
    internal static async Task<List<JsonObject>> InvoicePaymentsAsync(EmulatorTx tx, string? invoiceId)
    {
        var invoices = invoiceId is { Length: > 0 } ? [await tx.GetAsync(invoiceId, "invoice", "invoice")] : await tx.ListAsync("invoice");
        var payments = new List<JsonObject>();
        foreach (var invoice in invoices)
        {
            var id = invoice["id"]!.GetValue<string>();
            if ((await tx.PrivateAsync(id))?["payment_intent"]?.GetValue<string>() is not { } pi)
                continue;
            var paid = invoice["status"]!.GetValue<string>() == "paid";
            payments.Add(new JsonObject
            {
                ["id"] = "inpay_" + id["in_".Length..],
                ["object"] = "invoice_payment",
                ["amount_paid"] = paid ? invoice["amount_paid"]!.GetValue<long>() : null,
                ["amount_requested"] = invoice["amount_due"]!.GetValue<long>(),
                ["created"] = invoice["created"]!.GetValue<long>(),
                ["currency"] = invoice["currency"]!.GetValue<string>(),
                ["invoice"] = id,
                ["is_default"] = true,
                ["livemode"] = false,
                ["payment"] = new JsonObject { ["type"] = "payment_intent", ["payment_intent"] = pi },
                ["status"] = paid ? "paid" : "open",
                ["status_transitions"] = new JsonObject { ["canceled_at"] = null, ["paid_at"] = invoice["status_transitions"]?["paid_at"]?.DeepClone() },
            });
        }
        return payments;
    }

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
    /// Runs, in the order they fell due by the emulated clock, what Stripe's billing does on its own: a period end renews
    /// the subscription (<c>customer.subscription.updated</c>, then a draft <c>invoice.created</c>) or ends it when it was set
    /// to cancel; about an hour after <c>invoice.created</c> the invoice is finalized and charged; a failed charge is retried
    /// at <c>next_payment_attempt</c>. Objects carry the time each step fell due; events are stamped when they are sent.
    /// </summary>
    private static async Task<int> RunBillingCyclesAsync(EmulatorTx tx)
    {
        var processed = 0;
        for (var round = 0; round < 10_000; round++)
        {
            var subscriptions = await tx.ListAsync("subscription");
            var invoices = await tx.ListAsync("invoice");
            var steps = new List<(long Due, int Order, Func<Task> Run)>();
            foreach (var sub in subscriptions.Where(s => s["status"]!.GetValue<string>() is "active" or "trialing" or "past_due" or "unpaid"))
                if (PeriodEnd(sub) <= tx.Now)
                    steps.Add((PeriodEnd(sub), 0, () => EndPeriodAsync(tx, sub)));
            foreach (var sub in subscriptions.Where(s => s["status"]!.GetValue<string>() == "incomplete"))
            {
                var expiresAt = Unix(sub["created"]) + (long)IncompleteWindow.TotalSeconds;
                var first = await tx.FindAsync(Ref(sub["latest_invoice"]), "invoice");
                // A first payment still processing (a bank debit) keeps the subscription incomplete until the bank answers.
                if (expiresAt <= tx.Now && (first is null || !await IsDebitProcessingAsync(tx, first)))
                    steps.Add((expiresAt, 0, () => ExpireIncompleteAsync(tx, sub, first, expiresAt)));
            }
            foreach (var invoice in invoices.Where(i => i["parent"]?["subscription_details"] is not null))
            {
                if (invoice["status"]!.GetValue<string>() == "draft" && invoice["automatically_finalizes_at"]?.GetValue<long>() is { } finalizeAt && finalizeAt <= tx.Now)
                    steps.Add((finalizeAt, 1, () => FinalizeAndChargeAsync(tx, invoice, finalizeAt)));
                else if (invoice["status"]!.GetValue<string>() == "open" && invoice["next_payment_attempt"]?.GetValue<long>() is { } retryAt && retryAt <= tx.Now)
                    steps.Add((retryAt, 2, () => AttemptRenewalAsync(tx, invoice, retryAt)));
            }
            foreach (var (due, intent, settlement) in await DueBankDebitsAsync(tx))
                steps.Add((due, 3, () => SettleBankDebitAsync(tx, intent, settlement, due)));
            if (steps.Count == 0) break;
            var step = steps.OrderBy(s => s.Due).ThenBy(s => s.Order).First();
            await step.Run();
            processed++;
        }
        return processed;
    }

    /// <summary>The end of a period: the subscription ends if it was set to, otherwise it renews and drafts the period's invoice.</summary>
    private static async Task EndPeriodAsync(EmulatorTx tx, JsonObject sub)
    {
        var before = sub.DeepClone().AsObject();
        var periodEnd = PeriodEnd(sub);
        if (sub["cancel_at_period_end"]!.GetValue<bool>())
        {
            sub["status"] = "canceled";
            sub["ended_at"] = periodEnd;
            await tx.PutAsync(sub);
            await tx.EmitAsync("customer.subscription.deleted", sub);
            return;
        }
        var periodStart = sub["items"]!["data"]!.AsArray().Select(i => Unix(i!["current_period_start"])).Min();
        foreach (var item in sub["items"]!["data"]!.AsArray())
        {
            item!["current_period_start"] = periodEnd;
            item["current_period_end"] = AddPeriod(periodEnd, item["price"]!.AsObject());
        }
        var invoice = await DraftInvoiceAsync(tx, sub, "subscription_cycle", (periodStart, periodEnd), periodEnd);
        // Stripe leaves a renewal invoice in draft for about an hour (time to add items) before it finalizes and charges it.
        invoice["automatically_finalizes_at"] = periodEnd + (long)RenewalDraftPeriod.TotalSeconds;
        await tx.PutAsync(invoice, sub["id"]!.GetValue<string>());
        sub["latest_invoice"] = invoice["id"]!.GetValue<string>();
        await tx.PutAsync(sub);
        await tx.EmitAsync("customer.subscription.updated", sub, before);
        await tx.EmitAsync("invoice.created", invoice);
    }

    /// <summary>How long a subscription whose first invoice is not paid stays <c>incomplete</c> before it expires.</summary>
    internal static readonly TimeSpan IncompleteWindow = TimeSpan.FromHours(23);

    /// <summary>
    /// As Stripe documents <c>incomplete</c>: "If the first invoice is not paid within 23 hours, the subscription transitions to
    /// <c>incomplete_expired</c>. This is a terminal status, the open invoice will be voided and no further invoices will be
    /// generated." The invoice's PaymentIntent is canceled with it (<c>void_invoice</c>); the subscription ends
    /// (<c>customer.subscription.updated</c>, <c>canceled_at</c> and <c>ended_at</c> set).
    /// </summary>
    private static async Task ExpireIncompleteAsync(EmulatorTx tx, JsonObject sub, JsonObject? invoice, long at)
    {
        var subId = sub["id"]!.GetValue<string>();
        if (invoice is not null && invoice["status"]!.GetValue<string>() == "open")
        {
            var open = invoice.DeepClone().AsObject();
            invoice["status"] = "void";
            invoice["next_payment_attempt"] = null;
            invoice["status_transitions"]!["voided_at"] = at;
            await tx.PutAsync(invoice, subId);
            await tx.EmitAsync("invoice.updated", invoice, open);
            await tx.EmitAsync("invoice.voided", invoice);
            var piId = (await tx.PrivateAsync(invoice["id"]!.GetValue<string>()))?["payment_intent"]?.GetValue<string>();
            if (await tx.FindAsync(piId, "payment_intent") is { } pi
                && pi["status"]!.GetValue<string>() is "requires_payment_method" or "requires_confirmation" or "requires_action")
            {
                pi["status"] = "canceled";
                pi["canceled_at"] = at;
                pi["cancellation_reason"] = "void_invoice";
                pi["next_action"] = null;
                await tx.PutAsync(pi);
                await tx.EmitAsync("payment_intent.canceled", pi);
            }
        }
        var before = sub.DeepClone().AsObject();
        sub["status"] = "incomplete_expired";
        sub["canceled_at"] = at;
        sub["ended_at"] = at;
        await tx.PutAsync(sub);
        await tx.EmitAsync("customer.subscription.updated", sub, before);
    }

    /// <summary>How long a renewal invoice stays a draft after <c>invoice.created</c>.</summary>
    internal static readonly TimeSpan RenewalDraftPeriod = TimeSpan.FromHours(1);

    private static async Task FinalizeAndChargeAsync(EmulatorTx tx, JsonObject invoice, long at)
    {
        await FinalizeInvoiceAsync(tx, invoice, at);
        var sub = await tx.FindAsync(invoice["parent"]?["subscription_details"]?["subscription"]?.GetValue<string>(), "subscription");
        // An unpaid subscription keeps invoicing but Stripe attempts no payment; a canceled one stops collection.
        if (sub is null || sub["status"]!.GetValue<string>() is "unpaid" or "canceled") return;
        await AttemptRenewalAsync(tx, invoice, at);
    }
}
