using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Credits;

/// <summary>
/// What the credits feature must know, beyond its own balances, to choose how a generation is paid: the customer's
/// current monthly plan and whether a card is saved. Read inside the reservation's own write transaction, so the choice
/// is made on the state it commits with; implemented by the feature that owns subscriptions and cards.
/// </summary>
public interface IFundingFacts
{
    FundingFacts Read(SqliteConnection connection, SqliteTransaction? tx, string userId);
}

/// <summary>The customer's current subscription (the live one first, see the implementation) and whether a card is saved.</summary>
public sealed record FundingFacts(SubscriptionFacts? Subscription, bool HasSavedCard)
{
    public static readonly FundingFacts None = new(null, false);
}

/// <summary>A monthly plan as the credits feature needs it: which plan, its state and its current period.</summary>
public sealed record SubscriptionFacts(string Id, string PlanKey, string Status, DateTime? PeriodStart, DateTime? PeriodEnd, bool CancelAtPeriodEnd)
{
    /// <summary>It pays for generations now: active or trialing, inside its period.</summary>
    public bool IsActiveAt(DateTime now) =>
        Status is "active" or "trialing" && PeriodStart is not null && PeriodEnd is { } end && end > now;

    /// <summary>It waits on a payment: generation stops until it is paid, even with a saved card.</summary>
    public bool IsUnpaid => Status is "past_due" or "unpaid" or "incomplete";
}

/// <summary>Why a reservation was refused; the API and pages turn each into a status, a problem code and a message.</summary>
public enum DenialReason
{
    /// <summary>No credits, no live plan, no saved card.</summary>
    NoFunding,

    /// <summary>The monthly plan waits on a payment (<see cref="Denial.SubscriptionStatus"/>).</summary>
    SubscriptionUnpaid,

    /// <summary>The plan's hard cap for the period is reached (<see cref="Denial.Used"/>, until <see cref="Denial.RetryAt"/>).</summary>
    FairUseCap,

    /// <summary>
    /// A pay-per-use generation would take this month's pay-per-use spend (<see cref="Denial.Used"/>, minor units) above the
    /// customer's own cap (<see cref="Denial.SpendCapMinor"/>), which resets at <see cref="Denial.RetryAt"/>.
    /// </summary>
    SpendCap,
}

/// <summary>A refusal and the facts its message needs.</summary>
public sealed record Denial(DenialReason Reason, long Used = 0, int HardCap = 0, DateTime? RetryAt = null, string? SubscriptionStatus = null,
    long SpendCapMinor = 0, string? Currency = null);

/// <summary>Where a subscriber stands in the period after this reservation: units used, the plan's soft limit and hard cap.</summary>
public sealed record FairUseLevel(long Used, int SoftLimit, int HardCap)
{
    /// <summary>From 80 % of the soft limit on, answers carry a warning.</summary>
    public bool NearOrAbove => Used * 100 >= (long)SoftLimit * 80;

    public bool Above => Used > SoftLimit;
}
