namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// Which subscription statuses count as "live": every status in which Stripe still holds the subscription open and may
/// bill it again — <c>active</c>, <c>trialing</c>, <c>past_due</c> and <c>unpaid</c> (Stripe keeps retrying or the customer
/// pays the open invoice to resume), <c>paused</c> (a trial that ended without a card; it resumes on payment) and
/// <c>incomplete</c> (the first payment is still on its way). Only <c>canceled</c> and <c>incomplete_expired</c> are terminal
/// (docs.stripe.com/billing/subscriptions/overview#subscription-statuses). A customer with a live subscription may not start a second.
/// </summary>
public static class LiveSubscriptions
{
    public static readonly IReadOnlyList<string> Statuses = ["active", "trialing", "past_due", "unpaid", "paused", "incomplete"];

    public static bool IsLive(string? status) => status is not null && Statuses.Contains(status);
}

/// <summary>The customer already has a live subscription: a second one is refused (409 <c>already_subscribed</c>).</summary>
public sealed class AlreadySubscribedException(string subscriptionId)
    : Exception($"The customer already has the live subscription {subscriptionId}.")
{
    public string SubscriptionId { get; } = subscriptionId;
}
