using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Credits;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Billing;

/// <summary>A customer's standing with Stripe as we last heard it: the current subscription and the saved card.</summary>
public sealed record CustomerStanding(SubscriptionFacts? Subscription, bool HasSavedCard, string? CardBrand, string? CardLast4, string? CardExpires = null)
{
    public FundingFacts Funding => new(Subscription, HasSavedCard);
}

/// <summary>
/// The one place that decides which of a user's subscriptions is "current" — a live one first, then one waiting on
/// payment (<c>past_due</c>, <c>unpaid</c>, <c>incomplete</c>), then the latest — and reads it with the saved card in one
/// statement. The credits feature reads it inside its reservation transaction (<see cref="IFundingFacts"/>); the account
/// summary and the billing page read the same.
/// </summary>
public sealed class CustomerFacts : IFundingFacts
{
    private const string StandingSql = """
        SELECT s.stripe_subscription_id, s.plan_key, s.status, s.current_period_start, s.current_period_end, s.cancel_at_period_end,
               c.default_payment_method IS NOT NULL, c.card_brand, c.card_last4,
               CASE WHEN c.card_exp_month IS NOT NULL THEN printf('%02d/%d', c.card_exp_month, c.card_exp_year) END
        FROM (SELECT 1) AS one
        LEFT JOIN (SELECT stripe_subscription_id, plan_key, status, current_period_start, current_period_end, cancel_at_period_end
                   FROM subscriptions
                   WHERE user_id = @userId
                   ORDER BY CASE WHEN status IN ('active', 'trialing') THEN 0 WHEN status IN ('past_due', 'unpaid', 'incomplete') THEN 1 ELSE 2 END,
                            current_period_end DESC
                   LIMIT 1) AS s ON 1 = 1
        LEFT JOIN billing_customers AS c ON c.user_id = @userId;
        """;

    public static CustomerStanding Read(SqliteConnection connection, SqliteTransaction? tx, string userId)
    {
        using var r = connection.Prepared(tx, StandingSql, ("@userId", userId)).ExecuteReader();
        r.Read();
        var subscription = r.IsDBNull(0)
            ? null
            : new SubscriptionFacts(r.GetString(0), r.GetString(1), r.GetString(2),
                r.IsDBNull(3) ? null : r.GetUtcDateTime(3), r.IsDBNull(4) ? null : r.GetUtcDateTime(4), r.GetInt64(5) != 0);
        return new CustomerStanding(subscription, !r.IsDBNull(6) && r.GetInt64(6) != 0, r.GetNullableString(7), r.GetNullableString(8), r.GetNullableString(9));
    }

    FundingFacts IFundingFacts.Read(SqliteConnection connection, SqliteTransaction? tx, string userId) => Read(connection, tx, userId).Funding;
}
