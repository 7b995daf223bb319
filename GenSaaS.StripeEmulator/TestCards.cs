using System.Security.Cryptography;

namespace GenSaaS.StripeEmulator;

/// <summary>Stripe-style identifiers: a type prefix and a random base-62 suffix.</summary>
internal static class Ids
{
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public static string Random(int length) => RandomNumberGenerator.GetString(Alphabet, length);

    public static string New(string prefix) => prefix + Random(prefix == "cs_test_" ? 58 : 24);
}

/// <summary>What a test card does, after Stripe's documented test numbers.</summary>
public enum CardBehaviour
{
    /// <summary>Every payment succeeds.</summary>
    Succeeds,
    /// <summary>Declined whenever it is used, including at checkout (4000 0000 0000 0002).</summary>
    DeclinedAlways,
    /// <summary>Accepted at checkout; later off-session payments fail for insufficient funds (4000 0000 0000 9995).</summary>
    DeclinedOffSession,
}

public sealed record TestCard(string Number, string Brand, string Last4, CardBehaviour Behaviour)
{
    public const string Visa = "4242424242424242";
    public const string VisaDeclined = "4000000000000002";
    public const string VisaInsufficientFunds = "4000000000009995";

    private static readonly TestCard[] Known =
    [
        new(Visa, "visa", "4242", CardBehaviour.Succeeds),
        new("5555555555554444", "mastercard", "4444", CardBehaviour.Succeeds),
        new(VisaDeclined, "visa", "0002", CardBehaviour.DeclinedAlways),
        new(VisaInsufficientFunds, "visa", "9995", CardBehaviour.DeclinedOffSession),
    ];

    public int ExpMonth => 12;

    public int ExpYear => DateTime.UtcNow.Year + 3;

    /// <summary>Stable per number, as Stripe's fingerprint is per card.</summary>
    public string Fingerprint => Convert.ToHexString(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(Number)))[..16];

    /// <summary>The test card for what was typed (spaces and dashes ignored), or null when it is not one.</summary>
    public static TestCard? Find(string? typed)
    {
        var digits = new string((typed ?? "").Where(char.IsDigit).ToArray());
        return Known.FirstOrDefault(c => c.Number == digits);
    }

    /// <summary>Saved payment methods keep only the last four digits, which is enough to tell the test cards apart.</summary>
    public static CardBehaviour BehaviourOfLast4(string? last4) =>
        Known.FirstOrDefault(c => c.Last4 == last4)?.Behaviour ?? CardBehaviour.Succeeds;
}
