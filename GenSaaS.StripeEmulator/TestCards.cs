using System.Security.Cryptography;

namespace GenSaaS.StripeEmulator;

/// <summary>Stripe-style identifiers: a type prefix and a random base-62 suffix.</summary>
internal static class Ids
{
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public static string Random(int length) => RandomNumberGenerator.GetString(Alphabet, length);

    public static string New(string prefix) => prefix + Random(prefix == "cs_test_" ? 58 : 24);
}

/// <summary>What a test card does, after Stripe's documented test numbers (docs.stripe.com/testing).</summary>
public enum CardBehaviour
{
    /// <summary>Every payment succeeds.</summary>
    Succeeds,
    /// <summary>Declined whenever it is used, saving it included (4000 0000 0000 0002, <c>generic_decline</c>).</summary>
    DeclinedAlways,
    /// <summary>Declined whenever it is used, saving it included (4000 0000 0000 9995, <c>insufficient_funds</c>).</summary>
    InsufficientFunds,
    /// <summary>Attaches to a customer (saving it works) but every charge is declined (4000 0000 0000 0341).</summary>
    DeclinedAfterAttach,
    /// <summary>Every payment needs 3-D Secure, on and off session, however it was set up (4000 0027 6000 3184).</summary>
    AuthenticationAlways,
    /// <summary>Needs 3-D Secure on first use; once set up with authentication, off-session payments succeed (4000 0025 0000 3155).</summary>
    AuthenticationOnSetup,
}

public sealed record TestCard(string Number, string Brand, string Last4, CardBehaviour Behaviour)
{
    public const string Visa = "4242424242424242";
    public const string VisaDeclined = "4000000000000002";
    public const string VisaInsufficientFunds = "4000000000009995";
    public const string VisaDeclinedAfterAttach = "4000000000000341";
    public const string VisaAuthenticationAlways = "4000002760003184";
    public const string VisaAuthenticationOnSetup = "4000002500003155";

    private static readonly TestCard[] Known =
    [
        new(Visa, "visa", "4242", CardBehaviour.Succeeds),
        new("5555555555554444", "mastercard", "4444", CardBehaviour.Succeeds),
        new(VisaDeclined, "visa", "0002", CardBehaviour.DeclinedAlways),
        new(VisaInsufficientFunds, "visa", "9995", CardBehaviour.InsufficientFunds),
        new(VisaDeclinedAfterAttach, "visa", "0341", CardBehaviour.DeclinedAfterAttach),
        new(VisaAuthenticationAlways, "visa", "3184", CardBehaviour.AuthenticationAlways),
        new(VisaAuthenticationOnSetup, "visa", "3155", CardBehaviour.AuthenticationOnSetup),
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

    /// <summary>The decline code of a card that is refused even when it is only being saved, or null.</summary>
    public static string? DeclinedOnSaving(CardBehaviour behaviour) => behaviour switch
    {
        CardBehaviour.DeclinedAlways => "generic_decline",
        CardBehaviour.InsufficientFunds => "insufficient_funds",
        _ => null,
    };

    /// <summary>Whether the customer must pass 3-D Secure when paying or saving with this card on Stripe's pages.</summary>
    public static bool NeedsAuthenticationOnSession(CardBehaviour behaviour) =>
        behaviour is CardBehaviour.AuthenticationAlways or CardBehaviour.AuthenticationOnSetup;
}
