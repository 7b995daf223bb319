using System.ComponentModel.DataAnnotations;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// <c>Billing:Emulator:ApiFaults</c>: a share of <c>/v1</c> calls answered as Stripe answers when it is overloaded or broken,
/// so a client's timeouts, retries and idempotency keys are exercised. Set at start, or from the dev controls
/// (<c>POST /emulator/dev/api-faults</c>) until the process stops.
/// </summary>
public sealed class ApiFaults
{
    /// <summary>Percent of calls answered <c>429</c> (<c>rate_limit</c>, <c>Stripe-Should-Retry: true</c>) before any work is done.</summary>
    [Range(0, 100)] public int RateLimitPercent { get; set; }

    /// <summary>Percent of calls answered <c>500</c> (<c>api_error</c>) before any work is done; nothing is saved under the idempotency key.</summary>
    [Range(0, 100)] public int ServerErrorPercent { get; set; }

    /// <summary>Percent of calls that do their work (and save it under the idempotency key) but hold the answer for <see cref="HoldSeconds"/>, past the client's timeout.</summary>
    [Range(0, 100)] public int TimeoutPercent { get; set; }

    /// <summary>How long a held answer is held before it is sent (a client has normally given up by then).</summary>
    [Range(1, 600)] public int HoldSeconds { get; set; } = 30;

    /// <summary>Only calls whose "METHOD /path" (without <c>/v1</c>) starts with this are faulted, e.g. <c>POST /payment_intents</c>; empty: every call.</summary>
    public string? Route { get; set; }

    /// <summary>Stop after this many faulted calls (0: never), so a test can fault exactly the next call or two.</summary>
    [Range(0, int.MaxValue)] public int Limit { get; set; }

    public bool Any => RateLimitPercent + ServerErrorPercent + TimeoutPercent > 0;

    /// <summary>Null when the shares add up to at most 100 %, else what is wrong.</summary>
    public string? Problem() =>
        RateLimitPercent < 0 || ServerErrorPercent < 0 || TimeoutPercent < 0 || RateLimitPercent + ServerErrorPercent + TimeoutPercent > 100
            ? "rateLimit, serverError and timeout are percentages from 0 that add up to at most 100."
            : HoldSeconds is < 1 or > 600 ? "holdSeconds is between 1 and 600." : null;

    public override string ToString() =>
        Any ? $"429 {RateLimitPercent} %, 500 {ServerErrorPercent} %, held {TimeoutPercent} % ({HoldSeconds} s){(string.IsNullOrEmpty(Route) ? "" : $" on {Route}")}{(Limit > 0 ? $", at most {Limit}" : "")}" : "none";
}

/// <summary>What the emulator does to one API call.</summary>
internal enum ApiFault
{
    None,
    RateLimit,
    ServerError,
    HoldAnswer,
}
