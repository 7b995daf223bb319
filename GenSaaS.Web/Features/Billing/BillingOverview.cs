using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Features.Billing;

/// <summary>What the billing pages show a customer about their own account.</summary>
public sealed record BillingStatus(long TrialCredits, long PrepaidCredits, string? SubscriptionStatus, DateTime? PeriodEnd, bool CancelAtPeriodEnd,
    string? CardBrand, string? CardLast4)
{
    public long Credits => TrialCredits + PrepaidCredits;
}

public sealed class BillingOverview(Db db)
{
    private const string StatusSql = """
        SELECT coalesce((SELECT trial_balance FROM credit_balances WHERE user_id = @userId), 0) AS TrialCredits,
               coalesce((SELECT prepaid_balance FROM credit_balances WHERE user_id = @userId), 0) AS PrepaidCredits,
               s.status AS SubscriptionStatus, s.current_period_end AS PeriodEnd, coalesce(s.cancel_at_period_end, 0) AS CancelAtPeriodEnd,
               (SELECT card_brand FROM billing_customers WHERE user_id = @userId) AS CardBrand,
               (SELECT card_last4 FROM billing_customers WHERE user_id = @userId) AS CardLast4
        FROM (SELECT 1) AS one
        LEFT JOIN (SELECT status, current_period_end, cancel_at_period_end FROM subscriptions
                   WHERE user_id = @userId
                   ORDER BY CASE WHEN status IN ('active', 'trialing') THEN 0 WHEN status IN ('past_due', 'unpaid') THEN 1 ELSE 2 END,
                            current_period_end DESC
                   LIMIT 1) AS s ON 1 = 1;
        """;

    public async Task<BillingStatus> StatusAsync(string userId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var row = await connection.QuerySingleAsync<StatusRow>(new CommandDefinition(StatusSql, new { userId }, cancellationToken: ct));
        return new BillingStatus(row.TrialCredits, row.PrepaidCredits, row.SubscriptionStatus, row.PeriodEnd, row.CancelAtPeriodEnd != 0, row.CardBrand, row.CardLast4);
    }

    private const string SessionFulfilledSql = """
        SELECT count(*) FROM payments WHERE kind = 'bundle' AND stripe_id = @sessionId AND user_id = @userId AND status = 'paid';
        """;

    /// <summary>True once this user's bundle bought in this Checkout Session has been granted (by its webhook or the success page).</summary>
    public async Task<bool> IsFulfilledAsync(string sessionId, string userId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(SessionFulfilledSql, new { sessionId, userId }, cancellationToken: ct)) > 0;
    }

    private sealed record StatusRow
    {
        public long TrialCredits { get; init; }
        public long PrepaidCredits { get; init; }
        public string? SubscriptionStatus { get; init; }
        public DateTime? PeriodEnd { get; init; }
        public long CancelAtPeriodEnd { get; init; }
        public string? CardBrand { get; init; }
        public string? CardLast4 { get; init; }
    }

    public static string Money(long minor, string currency) =>
        $"{(minor / 100m).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)} {currency.ToUpperInvariant()}";
}
