using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Features.Billing;

/// <summary>A user's Stripe customer and saved card (<c>billing_customers</c>).</summary>
public sealed record BillingCustomer(string UserId, string StripeCustomerId, string? DefaultPaymentMethod, string? CardBrand, string? CardLast4);

/// <summary>One Stripe customer per user: created on first checkout, card saved by the setup-mode webhook.</summary>
public sealed class BillingAccounts(Db db, StripeGateway stripe, TimeProvider clock)
{
    private const string FindSql = """
        SELECT user_id AS UserId, stripe_customer_id AS StripeCustomerId, default_payment_method AS DefaultPaymentMethod,
               card_brand AS CardBrand, card_last4 AS CardLast4
        FROM billing_customers
        WHERE user_id = @userId;
        """;

    public async Task<BillingCustomer?> FindAsync(string userId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<BillingCustomer>(new CommandDefinition(FindSql, new { userId }, cancellationToken: ct));
    }

    private const string FindByCustomerSql = """
        SELECT user_id FROM billing_customers WHERE stripe_customer_id = @customerId;
        """;

    public async Task<string?> UserIdForCustomerAsync(string? customerId, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(customerId))
            return null;
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(FindByCustomerSql, new { customerId }, cancellationToken: ct));
    }

    private const string InsertSql = """
        INSERT INTO billing_customers (user_id, stripe_customer_id, updated_at)
        VALUES (@userId, @customerId, @now)
        ON CONFLICT (user_id) DO NOTHING;
        """;

    /// <summary>
    /// The user's Stripe customer, created with their email and <c>metadata.user_id</c> the first time. The create call
    /// carries the idempotency key <c>customer:{userId}</c>, so two racing first checkouts get the same customer.
    /// </summary>
    public async Task<BillingCustomer> EnsureCustomerAsync(string userId, string email, CancellationToken ct)
    {
        if (await FindAsync(userId, ct) is { } existing)
            return existing;
        var customer = await stripe.CreateCustomerAsync(userId, email, ct);
        await db.ExecuteAsync(InsertSql, new { userId, customerId = customer.Id, now = clock.GetUtcNow().UtcDateTime }, ct);
        return (await FindAsync(userId, ct))!;
    }

    private const string SaveCardSql = """
        UPDATE billing_customers
        SET default_payment_method = @paymentMethodId, card_brand = @brand, card_last4 = @last4, updated_at = @now
        WHERE user_id = @userId;
        """;

    public async Task SaveCardAsync(string userId, string paymentMethodId, string? brand, string? last4, CancellationToken ct)
    {
        await db.ExecuteAsync(SaveCardSql, new { userId, paymentMethodId, brand, last4, now = clock.GetUtcNow().UtcDateTime }, ct);
    }
}
