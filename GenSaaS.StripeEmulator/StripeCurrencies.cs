using System.Collections.Frozen;
using System.Globalization;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// Currencies as Stripe checks them: a code it does not know is refused on the call that names it, and a charge below
/// the currency's minimum (docs.stripe.com/currencies, "Minimum and maximum charge amounts") is refused with
/// <c>amount_too_small</c>, in Stripe's words ("Amount must be at least €0.50 eur").
/// </summary>
internal static class StripeCurrencies
{
    /// <summary>Stripe's minimum charge per currency, in minor units (zero-decimal currencies in whole units).</summary>
    public static readonly FrozenDictionary<string, long> MinimumCharge = new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["usd"] = 50, ["aed"] = 200, ["aud"] = 50, ["bgn"] = 100, ["brl"] = 50, ["cad"] = 50, ["chf"] = 50, ["czk"] = 1500,
        ["dkk"] = 250, ["eur"] = 50, ["gbp"] = 30, ["hkd"] = 400, ["huf"] = 17500, ["inr"] = 50, ["jpy"] = 50, ["mxn"] = 1000,
        ["myr"] = 200, ["nok"] = 300, ["nzd"] = 50, ["pln"] = 200, ["ron"] = 200, ["sek"] = 300, ["sgd"] = 50, ["thb"] = 1000,
    }.ToFrozenDictionary();

    private static readonly FrozenSet<string> ZeroDecimal = new[]
    {
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
    }.ToFrozenSet();

    private static readonly FrozenDictionary<string, string> Symbols = new Dictionary<string, string>
    {
        ["usd"] = "$", ["eur"] = "€", ["gbp"] = "£", ["jpy"] = "¥", ["inr"] = "₹", ["thb"] = "฿",
    }.ToFrozenDictionary();

    /// <summary>The ISO 4217 codes, lower case: what Stripe calls a currency (it supports most of them).</summary>
    public static readonly FrozenSet<string> Known = CultureInfo.GetCultures(CultureTypes.SpecificCultures)
        .Select(c => { try { return new RegionInfo(c.Name).ISOCurrencySymbol.ToLowerInvariant(); } catch (ArgumentException) { return null; } })
        .OfType<string>()
        .Concat(MinimumCharge.Keys)
        .ToFrozenSet(StringComparer.Ordinal);

    /// <summary>The currency, lower-cased, or Stripe's 400 naming <paramref name="param"/>.</summary>
    public static string Check(string currency, string param = "currency")
    {
        var code = currency.ToLowerInvariant();
        if (!Known.Contains(code))
            throw StripeApiException.Invalid(
                $"Invalid currency: {code}. Stripe currently supports these currencies: {string.Join(", ", Known.Order(StringComparer.Ordinal))}", param);
        return code;
    }

    /// <summary>The minimum charge in words, as Stripe writes it: "$0.50 usd", "¥50 jpy".</summary>
    public static string Describe(long minor, string currency)
    {
        var symbol = Symbols.GetValueOrDefault(currency, "");
        var amount = ZeroDecimal.Contains(currency)
            ? minor.ToString(CultureInfo.InvariantCulture)
            : (minor / 100m).ToString("0.00", CultureInfo.InvariantCulture);
        return $"{symbol}{amount} {currency}";
    }

    /// <summary>An amount as Stripe writes it in a refund error: "$25.00", "¥500"; a currency without a symbol gets its code, "25.00 chf".</summary>
    public static string Display(long minor, string currency)
    {
        var amount = ZeroDecimal.Contains(currency)
            ? minor.ToString(CultureInfo.InvariantCulture)
            : (minor / 100m).ToString("0.00", CultureInfo.InvariantCulture);
        return Symbols.TryGetValue(currency, out var symbol) ? $"{symbol}{amount}" : $"{amount} {currency}";
    }

    /// <summary>Refuses a payment below the currency's minimum charge.</summary>
    public static void EnsureChargeable(long amount, string currency, string param = "amount")
    {
        if (MinimumCharge.TryGetValue(currency, out var minimum) && amount < minimum)
            throw StripeApiException.Invalid($"Amount must be at least {Describe(minimum, currency)}", param, "amount_too_small");
    }
}
