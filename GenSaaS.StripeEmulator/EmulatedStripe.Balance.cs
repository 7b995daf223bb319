using System.Collections.Frozen;
using System.Text.Json.Nodes;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// Stripe's fees on the emulated account: the standard (list) price per successful payment, by payment method and currency,
/// as stripe.com/pricing publishes it for a domestic card: 2.9% + 30¢ in usd, 1.5% + €0.25 in eur, 1.5% + 20p in gbp;
/// ACH Direct Debit 0.8% capped at $5.00. Other currencies take the usd rule in their own minor units. A percentage is
/// rounded to the nearest minor unit (half away from zero) before the fixed part is added. Refunds return no fee, as at Stripe.
/// </summary>
internal static class StripeFees
{
    private sealed record Rule(long BasisPoints, long FixedMinor, long? CapMinor = null);

    private static readonly Rule Default = new(290, 30);

    private static readonly FrozenDictionary<string, Rule> Cards = new Dictionary<string, Rule>(StringComparer.Ordinal)
    {
        ["usd"] = new(290, 30),
        ["eur"] = new(150, 25),
        ["gbp"] = new(150, 20),
        ["cad"] = new(290, 30),
        ["aud"] = new(175, 30),
        ["jpy"] = new(360, 0),
    }.ToFrozenDictionary();

    private static readonly Rule AchDirectDebit = new(80, 0, 500);

    /// <summary>The fee Stripe takes on a payment of <paramref name="amount"/> by <paramref name="paymentMethodType"/>.</summary>
    public static long For(long amount, string currency, string paymentMethodType)
    {
        var rule = paymentMethodType == "us_bank_account" ? AchDirectDebit : Cards.GetValueOrDefault(currency, Default);
        var fee = (long)Math.Round(amount * rule.BasisPoints / 10_000m, MidpointRounding.AwayFromZero) + rule.FixedMinor;
        return Math.Min(fee, rule.CapMinor ?? long.MaxValue);
    }
}

/// <summary>
/// Balance transactions (<c>/v1/balance_transactions</c>): one for each charge when its money is taken (at once, or at capture
/// for a manual-capture charge), one for each refund, with Stripe's fee, net and reporting category. Funds become
/// <c>available</c> two days after the payment (the emulated clock), at midnight UTC.
/// </summary>
public sealed partial class EmulatedStripe
{
    /// <summary>Days until a payment's funds are available (Stripe's standard payout schedule for a US account).</summary>
    internal const int AvailableAfterDays = 2;

    internal static JsonObject BalanceTransaction(string id, long created, long amount, long fee, string currency, string? description,
        string reportingCategory, string type, string source) => new()
    {
        ["id"] = id,
        ["object"] = "balance_transaction",
        ["amount"] = amount,
        ["available_on"] = (created / 86_400 + AvailableAfterDays) * 86_400,
        ["balance_type"] = "payments",
        ["created"] = created,
        ["currency"] = currency,
        ["description"] = description,
        ["exchange_rate"] = null,
        ["fee"] = fee,
        ["fee_details"] = fee == 0
            ? new JsonArray()
            : new JsonArray(new JsonObject
            {
                ["amount"] = fee,
                ["application"] = null,
                ["currency"] = currency,
                ["description"] = "Stripe processing fees",
                ["type"] = "stripe_fee",
            }),
        ["net"] = amount - fee,
        ["reporting_category"] = reportingCategory,
        ["source"] = source,
        ["status"] = "pending",
        ["type"] = type,
    };

    /// <summary>
    /// The balance transaction of a charge whose money was taken (<paramref name="captured"/> of its amount): type <c>charge</c>
    /// for a card, <c>payment</c> for other payment methods, reporting category <c>charge</c>, Stripe's fee on the captured amount.
    /// A partial capture also gets Stripe's second transaction, reversing the uncaptured part (<c>partial_capture_reversal</c>).
    /// Sets the charge's <c>balance_transaction</c>; the caller saves the charge.
    /// </summary>
    internal static async Task RecordChargeBalanceAsync(EmulatorTx tx, JsonObject charge, long captured, long? at = null)
    {
        var created = at ?? tx.Now;
        var chargeId = charge["id"]!.GetValue<string>();
        var currency = charge["currency"]!.GetValue<string>();
        var methodType = charge["payment_method_details"]?["type"]?.GetValue<string>() ?? "card";
        var amount = charge["amount"]!.GetValue<long>();
        var txn = BalanceTransaction(Ids.New("txn_"), created, amount, StripeFees.For(captured, currency, methodType), currency,
            charge["description"]?.GetValue<string>(), "charge", methodType == "card" ? "charge" : "payment", chargeId);
        await tx.PutAsync(txn, chargeId);
        charge["balance_transaction"] = txn["id"]!.GetValue<string>();
        if (captured < amount)
            await tx.PutAsync(BalanceTransaction(Ids.New("txn_"), created, captured - amount, 0, currency, "Partial capture reversal",
                "partial_capture_reversal", "refund", chargeId), chargeId);
    }

    /// <summary>A refund's balance transaction: the amount leaves the balance, no fee comes back. Sets the refund's <c>balance_transaction</c>.</summary>
    internal static async Task RecordRefundBalanceAsync(EmulatorTx tx, JsonObject refund)
    {
        var refundId = refund["id"]!.GetValue<string>();
        var txn = BalanceTransaction(Ids.New("txn_"), tx.Now, -refund["amount"]!.GetValue<long>(), 0, refund["currency"]!.GetValue<string>(),
            "REFUND FOR CHARGE", "refund", "refund", refundId);
        await tx.PutAsync(txn, refundId);
        refund["balance_transaction"] = txn["id"]!.GetValue<string>();
    }

    private const string SelectPendingFunds = """
        SELECT json FROM objects
        WHERE type = 'balance_transaction' AND json_extract(json, '$.status') = 'pending' AND json_extract(json, '$.available_on') <= @now;
        """;

    /// <summary>Pending balance transactions whose <c>available_on</c> the emulated clock has reached become <c>available</c>.</summary>
    private static async Task<int> MakeFundsAvailableAsync(EmulatorTx tx)
    {
        var due = await Dapper.SqlMapper.QueryAsync<string>(tx.Connection, SelectPendingFunds, new { now = tx.Now }, tx.Transaction);
        var count = 0;
        foreach (var json in due)
        {
            var txn = JsonNode.Parse(json)!.AsObject();
            txn["status"] = "available";
            await tx.PutAsync(txn, Ref(txn["source"]));
            count++;
        }
        return count;
    }

    /// <summary>The balance transactions list, newest first, filtered as Stripe filters it (<c>created</c> is applied by the list itself).</summary>
    internal static async Task<List<JsonObject>> ListBalanceTransactionsAsync(EmulatorTx tx, FormParams p)
    {
        if (p.Str("payout") is { Length: > 0 } payout)
            throw StripeApiException.Missing("payout", payout, "payout");
        var all = await tx.ListAsync("balance_transaction", parent: p.Str("source") is { Length: > 0 } source ? source : null);
        return all.Where(t =>
                (p.Str("type") is not { Length: > 0 } type || t["type"]!.GetValue<string>() == type)
                && (p.Str("currency") is not { Length: > 0 } currency || t["currency"]!.GetValue<string>() == currency.ToLowerInvariant()))
            .ToList();
    }
}

/// <summary>
/// Discrepancies the dev controls inject, for testing a reconciliation: each changes the account as Stripe might without the
/// app hearing of it (no event is recorded, so no webhook is sent and <c>GET /v1/events</c> does not list it).
/// </summary>
public enum Discrepancy
{
    /// <summary>A paid card charge the app never saw (its PaymentIntent names nothing of the app's).</summary>
    Charge,
    /// <summary>A refund of an existing charge that the app was not told of.</summary>
    Refund,
    /// <summary>An existing charge's amount (and its balance transaction) changed.</summary>
    Amount,
}

public sealed partial class EmulatedStripe
{
    /// <summary>
    /// Injects a <see cref="Discrepancy"/> without any event. <see cref="Discrepancy.Charge"/> takes an optional customer,
    /// an amount (default 1000) and a currency (default usd); <see cref="Discrepancy.Refund"/> a charge and an optional
    /// amount (default what is left); <see cref="Discrepancy.Amount"/> a charge and its new amount. Returns the objects made or changed.
    /// </summary>
    public async Task<string> InjectDiscrepancyAsync(Discrepancy kind, string? customerId, string? chargeId, long? amount, string? currency)
    {
        var result = await WriteAsync(null, async tx => kind switch
        {
            Discrepancy.Charge => await InjectChargeAsync(tx, customerId, amount ?? 1000, StripeCurrencies.Check(currency ?? "usd")),
            Discrepancy.Refund => await InjectRefundAsync(tx, chargeId, amount),
            _ => await InjectAmountAsync(tx, chargeId, amount ?? throw StripeApiException.MissingParam("amount")),
        });
        _logger.LogWarning("Stripe emulator: injected discrepancy {Kind}: {Objects}", kind, result.ToJsonString());
        return result.ToJsonString();
    }

    private static async Task<JsonObject> InjectChargeAsync(EmulatorTx tx, string? customerId, long amount, string currency)
    {
        StripeCurrencies.EnsureChargeable(amount, currency);
        var customer = customerId is { Length: > 0 } ? await tx.GetAsync(customerId, "customer", "customer") : null;
        var pm = await CreatePaymentMethodAsync(tx, TestCard.Find(TestCard.Visa)!);
        var pi = StripeShapes.PaymentIntent(Ids.New("pi_"), tx.Now);
        pi["amount"] = amount;
        pi["amount_received"] = amount;
        pi["currency"] = currency;
        pi["customer"] = customer?["id"]?.GetValue<string>();
        pi["payment_method"] = pm["id"]!.GetValue<string>();
        pi["status"] = "succeeded";
        pi["description"] = "Injected discrepancy: a charge the app never saw";
        var charge = StripeShapes.Charge(Ids.New("ch_"), tx.Now, pm);
        charge["amount"] = amount;
        charge["amount_captured"] = amount;
        charge["captured"] = true;
        charge["currency"] = currency;
        charge["customer"] = pi["customer"]?.DeepClone();
        charge["payment_intent"] = pi["id"]!.GetValue<string>();
        charge["description"] = pi["description"]!.GetValue<string>();
        charge["payment_method_details"]!["card"]!["amount_authorized"] = amount;
        await RecordChargeBalanceAsync(tx, charge, amount);
        pi["latest_charge"] = charge["id"]!.GetValue<string>();
        await tx.PutAsync(pi);
        await tx.PutAsync(charge, pi["id"]!.GetValue<string>());
        return new JsonObject { ["payment_intent"] = pi["id"]!.GetValue<string>(), ["charge"] = charge["id"]!.GetValue<string>(), ["balance_transaction"] = charge["balance_transaction"]!.GetValue<string>() };
    }

    private static async Task<JsonObject> InjectRefundAsync(EmulatorTx tx, string? chargeId, long? amount)
    {
        var charge = await tx.GetAsync(chargeId is { Length: > 0 } ? chargeId : throw StripeApiException.MissingParam("charge"), "charge", "charge");
        var refundable = charge["amount_captured"]!.GetValue<long>() - charge["amount_refunded"]!.GetValue<long>();
        var refunded = amount ?? refundable;
        if (!charge["captured"]!.GetValue<bool>() || refunded <= 0 || refunded > refundable)
            throw StripeApiException.Invalid($"Refund amount ({refunded}) is greater than unrefunded amount on charge ({refundable})", "amount", "amount_too_large");
        var refund = StripeShapes.Refund(Ids.New("re_"), tx.Now);
        refund["amount"] = refunded;
        refund["charge"] = charge["id"]!.GetValue<string>();
        refund["currency"] = charge["currency"]!.GetValue<string>();
        refund["payment_intent"] = Ref(charge["payment_intent"]);
        refund["customer"] = Ref(charge["customer"]);
        refund["payment_method"] = Ref(charge["payment_method"]);
        await RecordRefundBalanceAsync(tx, refund);
        await tx.PutAsync(refund, charge["id"]!.GetValue<string>());
        charge["amount_refunded"] = charge["amount_refunded"]!.GetValue<long>() + refunded;
        charge["refunded"] = charge["amount_refunded"]!.GetValue<long>() == charge["amount"]!.GetValue<long>();
        charge["refunds"]!["data"]!.AsArray().Insert(0, refund.DeepClone());
        await tx.PutAsync(charge, Ref(charge["payment_intent"]));
        return new JsonObject { ["refund"] = refund["id"]!.GetValue<string>(), ["charge"] = charge["id"]!.GetValue<string>(), ["balance_transaction"] = refund["balance_transaction"]!.GetValue<string>() };
    }

    private static async Task<JsonObject> InjectAmountAsync(EmulatorTx tx, string? chargeId, long amount)
    {
        var charge = await tx.GetAsync(chargeId is { Length: > 0 } ? chargeId : throw StripeApiException.MissingParam("charge"), "charge", "charge");
        if (amount <= 0)
            throw StripeApiException.Invalid("This value must be greater than or equal to 1.", "amount");
        var currency = charge["currency"]!.GetValue<string>();
        charge["amount"] = amount;
        if (charge["captured"]!.GetValue<bool>()) charge["amount_captured"] = amount;
        await tx.PutAsync(charge, Ref(charge["payment_intent"]));
        if (await tx.FindAsync(Ref(charge["payment_intent"]), "payment_intent") is { } pi)
        {
            pi["amount"] = amount;
            if (pi["status"]!.GetValue<string>() == "succeeded") pi["amount_received"] = amount;
            await tx.PutAsync(pi);
        }
        if (await tx.FindAsync(Ref(charge["balance_transaction"]), "balance_transaction") is { } txn)
        {
            var methodType = charge["payment_method_details"]?["type"]?.GetValue<string>() ?? "card";
            var changed = BalanceTransaction(txn["id"]!.GetValue<string>(), txn["created"]!.GetValue<long>(), amount, StripeFees.For(amount, currency, methodType),
                currency, txn["description"]?.GetValue<string>(), txn["reporting_category"]!.GetValue<string>(), txn["type"]!.GetValue<string>(), charge["id"]!.GetValue<string>());
            changed["status"] = txn["status"]!.DeepClone();
            await tx.PutAsync(changed, charge["id"]!.GetValue<string>());
        }
        return new JsonObject { ["charge"] = charge["id"]!.GetValue<string>(), ["amount"] = amount };
    }
}
