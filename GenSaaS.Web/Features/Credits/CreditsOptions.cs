using System.ComponentModel.DataAnnotations;

namespace GenSaaS.Web.Features.Credits;

/// <summary>The <c>Credits</c> configuration section.</summary>
public sealed class CreditsOptions
{
    /// <summary>Free credits every new account starts with.</summary>
    [Range(0, 1000)] public int TrialCredits { get; set; } = 3;

    /// <summary>A reservation still open after this many seconds is taken as abandoned and released by the sweeper.</summary>
    [Range(10, 86_400)] public int StaleReservationSeconds { get; set; } = 600;

    /// <summary>Generations per minute for an account without a paid plan.</summary>
    [Range(1, 10_000_000)] public int TrialRatePerMinute { get; set; } = 10;

    /// <summary>How long a request with an idempotency key already in progress waits for the first one to finish.</summary>
    [Range(0, 600)] public int IdempotentWaitSeconds { get; set; } = 30;

    /// <summary>How long a generation that finds no credit while an auto top-up is being charged waits for its credits before it goes on without them.</summary>
    [Range(0, 120)] public int AutoTopUpWaitSeconds { get; set; } = 10;
}
