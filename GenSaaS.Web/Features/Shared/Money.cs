using System.Collections.Frozen;
using System.Globalization;

namespace GenSaaS.Web.Features.Shared;

/// <summary>
/// Money as the app stores it (minor units and a currency code, as Stripe does) written for people: with as many decimals as
/// the currency has. Stripe counts zero-decimal currencies (JPY, KRW …) in whole units and three-decimal ones (KWD …) in
/// thousandths (docs.stripe.com/currencies), so 500 is ¥500 but $5.00.
/// </summary>
public static class Money
{
    private static readonly FrozenSet<string> ZeroDecimal = new[]
    {
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenSet<string> ThreeDecimal = new[] { "bhd", "jod", "kwd", "omr", "tnd" }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>How many decimals the currency's minor unit has: 0, 2 or 3.</summary>
    public static int Decimals(string currency) =>
        ZeroDecimal.Contains(currency) ? 0 : ThreeDecimal.Contains(currency) ? 3 : 2;

    /// <summary>The amount as a plain decimal number in the currency's major unit, e.g. "5.00", "500", "-1.250".</summary>
    public static string Amount(long minor, string currency)
    {
        var decimals = Decimals(currency);
        var major = minor / (decimal)Pow10(decimals);
        return major.ToString(decimals == 0 ? "0" : "0." + new string('0', decimals), CultureInfo.InvariantCulture);
    }

    /// <summary>The amount and its upper-case code, e.g. "5.00 USD", "500 JPY".</summary>
    public static string Format(long minor, string currency) => $"{Amount(minor, currency)} {currency.ToUpperInvariant()}";

    private static long Pow10(int n) => n switch { 0 => 1, 2 => 100, 3 => 1000, _ => throw new ArgumentOutOfRangeException(nameof(n)) };
}
