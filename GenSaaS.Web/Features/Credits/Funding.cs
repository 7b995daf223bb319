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

    /// <summary>
    /// Credits cannot pay, and an auto top-up (<see cref="Denial.TopUpId"/>) is on its way: the caller waits for it (bounded by
    /// <c>Credits:AutoTopUpWaitSeconds</c>) and reserves again, then without waiting. Never an answer to the customer.
    /// </summary>
    TopUpPending,
}

/// <summary>A refusal and the facts its message needs.</summary>
public sealed record Denial(DenialReason Reason, long Used = 0, int HardCap = 0, DateTime? RetryAt = null, string? SubscriptionStatus = null,
    long SpendCapMinor = 0, string? Currency = null, long? TopUpId = null);

/// <summary>Where a subscriber stands in the period after this reservation: units used, the plan's soft limit and hard cap.</summary>
public sealed record FairUseLevel(long Used, int SoftLimit, int HardCap)
{
    /// <summary>From 80 % of the soft limit on, answers carry a warning.</summary>
    public bool NearOrAbove => Used * 100 >= (long)SoftLimit * 80;

    public bool Above => Used > SoftLimit;
}

/// <summary>
/// What can pay for a generation, as read in one transaction: the credit balances, the subscription and saved card, and —
/// for a live monthly plan — the units used in its period and its hard cap (0 otherwise).
/// </summary>
public sealed record FundingState(long Trial, long Prepaid, FundingFacts Facts, long UsedThisPeriod, int HardCap);

/// <summary>The source that pays, or why nothing may.</summary>
public sealed record FundingChoice(FundingSource? Source, Denial? Denial = null);

/// <summary>
/// The funding order, in one place: the ledger chooses with it inside the reservation's transaction and the billing page
/// says with it what pays for the next image.
/// </summary>
public static class FundingOrder
{
    /// <summary>
    /// A live monthly plan within its hard cap pays first; then trial credits, then prepaid credits (a bucket pays only when
    /// it covers all the <paramref name="units"/>). Without credits a live plan at its cap refuses (fair use, even with a saved
    /// card: the customer never chose to be charged per image on top of the plan), a plan waiting on a payment refuses, and
    /// otherwise a saved card pays per use.
    /// </summary>
    public static FundingChoice Choose(FundingState state, int units, DateTime now)
    {
        var subscription = state.Facts.Subscription;
        var live = subscription is not null && subscription.IsActiveAt(now);
        if (live && state.UsedThisPeriod + units <= state.HardCap)
            return new FundingChoice(FundingSource.Subscription);
        if (state.Trial >= units)
            return new FundingChoice(FundingSource.Trial);
        if (state.Prepaid >= units)
            return new FundingChoice(FundingSource.Prepaid);
        if (live)
            return new FundingChoice(null, new Denial(DenialReason.FairUseCap, state.UsedThisPeriod, state.HardCap, subscription!.PeriodEnd));
        if (subscription is { IsUnpaid: true })
            return new FundingChoice(null, new Denial(DenialReason.SubscriptionUnpaid, SubscriptionStatus: subscription.Status));
        if (state.Facts.HasSavedCard)
            return new FundingChoice(FundingSource.PayPerUse);
        return new FundingChoice(null, new Denial(DenialReason.NoFunding));
    }
}
