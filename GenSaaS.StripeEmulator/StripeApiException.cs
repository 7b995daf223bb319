using System.Text.Json.Nodes;

namespace GenSaaS.StripeEmulator;

/// <summary>An error the emulator answers in Stripe's <c>{"error": {...}}</c> format with Stripe's status code.</summary>
internal sealed class StripeApiException(int status, string type, string message, string? code = null, string? param = null, string? declineCode = null)
    : Exception(message)
{
    public int Status { get; } = status;

    /// <summary>Objects Stripe attaches to a card error (the failed payment intent or setup intent, the charge).</summary>
    public JsonObject Extra { get; } = new();

    public JsonObject ToJson()
    {
        var error = new JsonObject
        {
            ["type"] = type,
            ["message"] = Message,
        };
        if (code is not null) error["code"] = code;
        if (param is not null) error["param"] = param;
        if (declineCode is not null) error["decline_code"] = declineCode;
        if (code is not null) error["doc_url"] = $"https://docs.stripe.com/error-codes/{code.Replace('_', '-')}";
        foreach (var (key, value) in Extra)
            error[key] = value?.DeepClone();
        return new JsonObject { ["error"] = error };
    }

    public static StripeApiException Missing(string type, string? id, string param = "id") =>
        new(404, "invalid_request_error", $"No such {type}: '{id}'", "resource_missing", param);

    public static StripeApiException Invalid(string message, string? param = null, string? code = null) =>
        new(400, "invalid_request_error", message, code ?? (param is null ? null : "parameter_invalid"), param);

    public static StripeApiException MissingParam(string param) =>
        new(400, "invalid_request_error", $"Missing required param: {param}.", "parameter_missing", param);

    /// <summary>Stripe's words for each decline code the test cards produce.</summary>
    public static string DeclineMessage(string declineCode) => declineCode switch
    {
        "insufficient_funds" => "Your card has insufficient funds.",
        "authentication_required" => "Your card was declined. This transaction requires authentication.",
        _ => "Your card was declined.",
    };

    /// <summary>
    /// A card error as Stripe answers it: <c>card_declined</c> with the decline code, except a soft decline for 3-D Secure,
    /// whose code is <c>authentication_required</c> as well.
    /// </summary>
    public static StripeApiException CardDeclined(string declineCode, string? chargeId = null)
    {
        var code = declineCode == "authentication_required" ? "authentication_required" : "card_declined";
        var error = new StripeApiException(402, "card_error", DeclineMessage(declineCode), code, null, declineCode);
        if (chargeId is not null) error.Extra["charge"] = chargeId;
        return error;
    }
}
