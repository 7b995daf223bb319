using System.Text.Json.Nodes;

namespace GenSaaS.StripeEmulator;

/// <summary>What one of Stripe's test US bank accounts does once its debit is submitted.</summary>
internal enum BankDebitOutcome { Succeeds, Fails, StaysProcessing }

public sealed partial class EmulatedStripe
{
    /// <summary>Stripe's ACH Direct Debit test accounts (routing number 110000000) and what each does, with the failure code.</summary>
    private static readonly Dictionary<string, (BankDebitOutcome Outcome, string? FailureCode, string? Message)> TestBankAccounts = new(StringComparer.Ordinal)
    {
        ["000123456789"] = (BankDebitOutcome.Succeeds, null, null),
        ["000111111113"] = (BankDebitOutcome.Fails, "account_closed", "The customer's bank account has been closed."),
        ["000111111116"] = (BankDebitOutcome.Fails, "no_account", "The customer's bank account could not be located."),
        ["000222222227"] = (BankDebitOutcome.Fails, "insufficient_funds", "The customer's account has insufficient funds to cover this payment."),
        ["000000000009"] = (BankDebitOutcome.StaysProcessing, null, null),
    };

    /// <summary>How long (by the emulated clock) a bank debit stays <c>processing</c> before it succeeds or fails.</summary>
    internal static readonly TimeSpan BankDebitSettlement = TimeSpan.FromMinutes(3);

    /// <summary>
    /// Pays a payment-mode checkout session from the hosted page with a test US bank account: a delayed payment, as Stripe
    /// runs it. The session completes at once with <c>payment_status=unpaid</c> and its PaymentIntent is <c>processing</c>;
    /// a few minutes later by the emulated clock it settles: <c>checkout.session.async_payment_succeeded</c> (the session paid)
    /// or <c>checkout.session.async_payment_failed</c>.
    /// </summary>
    public Task<CheckoutOutcome> CompleteCheckoutWithBankAccountAsync(string sessionId, string? accountNumber, string? email = null) =>
        WriteAsync(null, async tx =>
        {
            var session = await tx.FindAsync(sessionId, "checkout.session");
            if (CannotComplete(tx, session, "us_bank_account", acceptedWhenUnlisted: false, out var refusal))
                return new CheckoutOutcome(false, null, refusal);
            if (session["mode"]!.GetValue<string>() is not ("payment" or "subscription"))
                return new CheckoutOutcome(false, null, "Bank accounts pay for one-time payments and subscriptions only.");
            if (session["currency"]?.GetValue<string>() != "usd")
                return new CheckoutOutcome(false, null, "US bank accounts can only pay in usd.");
            var digits = new string((accountNumber ?? "").Where(char.IsDigit).ToArray());
            if (!TestBankAccounts.TryGetValue(digits, out var account))
                return new CheckoutOutcome(false, null, "Your bank account number is incorrect.");

            var before = session.DeepClone().AsObject();
            var privateData = await tx.PrivateAsync(sessionId) ?? new JsonObject();
            var intentData = privateData["payment_intent_data"] as JsonObject;
            email = string.IsNullOrWhiteSpace(email) ? session["customer_email"]?.GetValue<string>() : email.Trim();
            var customer = await tx.FindAsync(Ref(session["customer"]), "customer");
            email ??= customer?["email"]?.GetValue<string>();

            var pm = StripeShapes.BankAccountPaymentMethod(Ids.New("pm_"), tx.Now, digits);
            pm["billing_details"]!["email"] = email;
            await tx.PutAsync(pm);
            var outcome = new JsonObject
            {
                ["fails"] = account.Outcome == BankDebitOutcome.Fails,
                ["never"] = account.Outcome == BankDebitOutcome.StaysProcessing,
                ["failure_code"] = account.FailureCode,
                ["failure_message"] = account.Message,
            };

            if (session["mode"]!.GetValue<string>() == "subscription")
            {
                // As at Stripe: the subscription is incomplete while its first invoice's debit is processing.
                customer ??= await NewCustomerAsync(tx, email);
                var pmId = pm["id"]!.GetValue<string>();
                await AttachPaymentMethodAsync(tx, pmId, customer["id"]!.GetValue<string>());
                var privatePm = await tx.PrivateAsync(pmId) ?? new JsonObject();
                privatePm["bank_outcome"] = outcome;
                await tx.PutAsync(await tx.GetAsync(pmId, "payment_method"), privateData: privatePm);
                var sub = await CreateSubscriptionAsync(tx, customer, pmId, privateData["line_items"]!.AsArray(),
                    privateData["subscription_data"]?["metadata"] as JsonObject);
                var invoiceId = Ref(sub["latest_invoice"]);
                if ((await tx.PrivateAsync(invoiceId!))?["payment_intent"]?.GetValue<string>() is { } invoicePi
                    && await tx.PrivateAsync(invoicePi) is { } invoiceSettlement)
                {
                    invoiceSettlement["checkout_session"] = sessionId;
                    await tx.PutAsync(await tx.GetAsync(invoicePi, "payment_intent"), privateData: invoiceSettlement);
                }
                session["customer"] = customer["id"]!.GetValue<string>();
                session["subscription"] = sub["id"]!.GetValue<string>();
                session["invoice"] = invoiceId;
                session["payment_status"] = sub["status"]!.GetValue<string>() == "active" ? "paid" : "unpaid";
                return await MarkCompleteAsync(tx, session, before, email);
            }

            var pi = StripeShapes.PaymentIntent(Ids.New("pi_"), tx.Now);
            pi["amount"] = session["amount_total"]!.GetValue<long>();
            pi["currency"] = "usd";
            pi["customer"] = customer?["id"]?.GetValue<string>();
            pi["payment_method"] = pm["id"]!.GetValue<string>();
            pi["payment_method_types"] = new JsonArray("us_bank_account");
            pi["payment_method_options"] = new JsonObject { ["us_bank_account"] = new JsonObject { ["verification_method"] = "automatic" } };
            pi["metadata"] = (intentData?["metadata"] as JsonObject)?.DeepClone() ?? new JsonObject();
            pi["status"] = "processing";
            var settlement = new JsonObject
            {
                ["checkout_session"] = sessionId,
                ["settles_at"] = account.Outcome == BankDebitOutcome.StaysProcessing ? null : tx.Now + (long)BankDebitSettlement.TotalSeconds,
                ["fails"] = account.Outcome == BankDebitOutcome.Fails,
                ["failure_code"] = account.FailureCode,
                ["failure_message"] = account.Message,
            };
            await tx.PutAsync(pi, privateData: settlement);
            await tx.EmitAsync("payment_intent.created", pi);
            await tx.EmitAsync("payment_intent.processing", pi);

            session["payment_intent"] = pi["id"]!.GetValue<string>();
            session["payment_status"] = "unpaid";
            return await MarkCompleteAsync(tx, session, before, email);
        });

    /// <summary>An invoice paid by a saved bank account: its PaymentIntent is processing until the bank answers.</summary>
    private static async Task StartInvoiceBankDebitAsync(EmulatorTx tx, JsonObject invoice, JsonObject pm, long total)
    {
        var invoiceId = invoice["id"]!.GetValue<string>();
        var subId = invoice["parent"]?["subscription_details"]?["subscription"]?.GetValue<string>();
        var outcome = (await tx.PrivateAsync(pm["id"]!.GetValue<string>()))?["bank_outcome"] as JsonObject;
        var pi = StripeShapes.PaymentIntent(Ids.New("pi_"), tx.Now);
        pi["amount"] = total;
        pi["currency"] = invoice["currency"]!.GetValue<string>();
        pi["customer"] = invoice["customer"]!.GetValue<string>();
        pi["description"] = invoice["billing_reason"]!.GetValue<string>() == "subscription_create" ? "Subscription creation" : "Subscription update";
        pi["payment_method"] = pm["id"]!.GetValue<string>();
        pi["payment_method_types"] = new JsonArray("us_bank_account");
        pi["status"] = "processing";
        var settlement = new JsonObject
        {
            ["invoice"] = invoiceId,
            ["settles_at"] = outcome?["never"]?.GetValue<bool>() == true ? null : tx.Now + (long)BankDebitSettlement.TotalSeconds,
            ["fails"] = outcome?["fails"]?.GetValue<bool>() == true,
            ["failure_code"] = outcome?["failure_code"]?.DeepClone(),
            ["failure_message"] = outcome?["failure_message"]?.DeepClone(),
        };
        await tx.PutAsync(pi, privateData: settlement);
        await tx.EmitAsync("payment_intent.created", pi);
        await tx.EmitAsync("payment_intent.processing", pi);
        var privateInvoice = await tx.PrivateAsync(invoiceId) ?? new JsonObject();
        privateInvoice["payment_intent"] = pi["id"]!.GetValue<string>();
        await tx.PutAsync(invoice, subId, privateInvoice);
    }

    /// <summary>The bank debits whose settlement time the clock has passed, with that time.</summary>
    private const string SelectDueDebits = """
        SELECT json, private FROM objects
        WHERE type = 'payment_intent' AND json_extract(json, '$.status') = 'processing'
          AND json_extract(private, '$.settles_at') <= @now;
        """;

    private static async Task<List<(long Due, JsonObject Intent, JsonObject Settlement)>> DueBankDebitsAsync(EmulatorTx tx)
    {
        var rows = await Dapper.SqlMapper.QueryAsync<(string Json, string Private)>(tx.Connection, SelectDueDebits, new { now = tx.Now }, tx.Transaction);
        return rows.Select(r => (Intent: JsonNode.Parse(r.Json)!.AsObject(), Settlement: JsonNode.Parse(r.Private)!.AsObject()))
            .Select(r => (r.Settlement["settles_at"]!.GetValue<long>(), r.Intent, r.Settlement))
            .ToList();
    }

    /// <summary>The bank's answer on a processing debit, with the events Stripe sends for it and for its checkout session.</summary>
    private static async Task SettleBankDebitAsync(EmulatorTx tx, JsonObject pi, JsonObject settlement, long at)
    {
        var piId = pi["id"]!.GetValue<string>();
        var pm = await tx.GetAsync(Ref(pi["payment_method"]), "payment_method");
        var amount = pi["amount"]!.GetValue<long>();
        var fails = settlement["fails"]?.GetValue<bool>() == true;
        var charge = StripeShapes.BankDebitCharge(Ids.New("py_"), at, pm);
        charge["amount"] = amount;
        charge["currency"] = pi["currency"]!.GetValue<string>();
        charge["customer"] = pi["customer"]?.DeepClone();
        charge["payment_intent"] = piId;
        charge["metadata"] = pi["metadata"]!.DeepClone();
        charge["billing_details"] = pm["billing_details"]!.DeepClone();
        pi["latest_charge"] = charge["id"]!.GetValue<string>();
        settlement["settles_at"] = null;
        if (fails)
        {
            charge["status"] = "failed";
            charge["paid"] = false;
            charge["failure_code"] = settlement["failure_code"]?.DeepClone();
            charge["failure_message"] = settlement["failure_message"]?.DeepClone();
            await tx.PutAsync(charge, piId);
            pi["status"] = "requires_payment_method";
            pi["last_payment_error"] = new JsonObject
            {
                ["code"] = settlement["failure_code"]?.DeepClone(),
                ["message"] = settlement["failure_message"]?.DeepClone(),
                ["type"] = "invalid_request_error",
                ["payment_method"] = pm.DeepClone(),
            };
            pi["payment_method"] = null;
            await tx.PutAsync(pi, privateData: settlement);
            await tx.EmitAsync("charge.failed", charge);
            await tx.EmitAsync("payment_intent.payment_failed", pi);
        }
        else
        {
            charge["captured"] = true;
            charge["amount_captured"] = amount;
            await RecordChargeBalanceAsync(tx, charge, amount, at);
            charge["receipt_url"] = $"https://pay.stripe.com/receipts/emulated/{charge["id"]}";
            await tx.PutAsync(charge, piId);
            pi["status"] = "succeeded";
            pi["amount_received"] = amount;
            await tx.PutAsync(pi, privateData: settlement);
            await tx.EmitAsync("charge.succeeded", charge);
            await tx.EmitAsync("payment_intent.succeeded", pi);
        }

        if (await tx.FindAsync(settlement["invoice"]?.GetValue<string>(), "invoice") is { } invoice && invoice["status"]!.GetValue<string>() == "open")
            await SettleInvoiceAsync(tx, invoice, fails, amount, at);
        if (await tx.FindAsync(settlement["checkout_session"]?.GetValue<string>(), "checkout.session") is not { } session) return;
        if (!fails) session["payment_status"] = "paid";
        await tx.PutAsync(session);
        await tx.EmitAsync(fails ? "checkout.session.async_payment_failed" : "checkout.session.async_payment_succeeded", session);
    }

    /// <summary>A subscription invoice's debit answered: paid (the subscription active) or failed (incomplete stays, a live one goes past_due).</summary>
    private static async Task SettleInvoiceAsync(EmulatorTx tx, JsonObject invoice, bool fails, long amount, long at)
    {
        var subId = invoice["parent"]?["subscription_details"]?["subscription"]?.GetValue<string>();
        var open = invoice.DeepClone().AsObject();
        if (fails)
        {
            await tx.PutAsync(invoice, subId);
            await tx.EmitAsync("invoice.payment_failed", invoice);
        }
        else
        {
            invoice["status"] = "paid";
            invoice["amount_paid"] = invoice["amount_paid"]!.GetValue<long>() + amount;
            invoice["amount_remaining"] = 0;
            invoice["next_payment_attempt"] = null;
            invoice["status_transitions"]!["paid_at"] = at;
            invoice["invoice_pdf"] = $"https://pay.stripe.com/invoice/emulated/{invoice["id"]}/pdf";
            await tx.PutAsync(invoice, subId);
            await tx.EmitAsync("invoice.updated", invoice, open);
            await tx.EmitAsync("invoice.paid", invoice);
            await tx.EmitAsync("invoice.payment_succeeded", invoice);
        }
        if (await tx.FindAsync(subId, "subscription") is not { } sub || Ref(sub["latest_invoice"]) != invoice["id"]!.GetValue<string>()) return;
        var before = sub.DeepClone().AsObject();
        var status = sub["status"]!.GetValue<string>();
        if (!fails && status is "incomplete" or "past_due" or "unpaid") sub["status"] = "active";
        else if (fails && status is "active" or "trialing") sub["status"] = "past_due";
        if (JsonNode.DeepEquals(before, sub)) return;
        await tx.PutAsync(sub);
        await tx.EmitAsync("customer.subscription.updated", sub, before);
    }

    /// <summary>True while the invoice's bank debit waits on the bank: neither paid nor failed yet.</summary>
    private static async Task<bool> IsDebitProcessingAsync(EmulatorTx tx, JsonObject invoice) =>
        (await tx.PrivateAsync(invoice["id"]!.GetValue<string>()))?["payment_intent"]?.GetValue<string>() is { } piId
        && await tx.FindAsync(piId, "payment_intent") is { } pi && pi["status"]!.GetValue<string>() == "processing";
}
