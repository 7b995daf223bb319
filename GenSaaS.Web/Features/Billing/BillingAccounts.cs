using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Features.Billing;

/// <summary>A user's Stripe customer and saved card (<c>billing_customers</c>).</summary>
/// <param name="PayPerUseCard">1 when the customer saved a card to pay per use; only then does the app charge (and follow) their card.</param>
public sealed record BillingCustomer(string UserId, string StripeCustomerId, string? DefaultPaymentMethod, string? CardBrand, string? CardLast4,
    long? CardExpMonth, long? CardExpYear, long PayPerUseCard)
{
    public bool PaysPerUse => PayPerUseCard == 1;
}

/// <summary>A card as the app keeps it: Stripe's payment method id and what the customer is shown.</summary>
public sealed record SavedCard(string PaymentMethodId, string? Brand, string? Last4, long? ExpMonth, long? ExpYear)
{
    public static SavedCard Of(Stripe.PaymentMethod method) =>
        new(method.Id, method.Card?.Brand, method.Card?.Last4, method.Card?.ExpMonth, method.Card?.ExpYear);
}

/// <summary>One Stripe customer per user: created on first checkout, card saved by the setup-mode webhook.</summary>
public sealed class BillingAccounts(Db db, StripeGateway stripe, TimeProvider clock)
{
    private const string FindSql = """
        SELECT user_id AS UserId, stripe_customer_id AS StripeCustomerId, default_payment_method AS DefaultPaymentMethod,
               card_brand AS CardBrand, card_last4 AS CardLast4, card_exp_month AS CardExpMonth, card_exp_year AS CardExpYear,
               pay_per_use_card AS PayPerUseCard
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

    private const string CustomerOfCardSql = """
        SELECT stripe_customer_id FROM billing_customers WHERE default_payment_method = @paymentMethodId;
        """;

    /// <summary>The customer whose charged card this payment method is, if any (a detached card no longer names its customer).</summary>
    public async Task<string?> CustomerOfCardAsync(string paymentMethodId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(CustomerOfCardSql, new { paymentMethodId }, cancellationToken: ct));
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
        SET default_payment_method = @paymentMethodId, card_brand = @brand, card_last4 = @last4,
            card_exp_month = @expMonth, card_exp_year = @expYear,
            pay_per_use_card = CASE WHEN @optIn THEN 1 ELSE pay_per_use_card END, updated_at = @now
        WHERE user_id = @userId AND (@optIn OR pay_per_use_card = 1);
        """;

    /// <summary>
    /// Stores the card charged per generation (null: none). <paramref name="optIn"/> is the customer saving a card for pay per
    /// use; without it the card is only changed for a customer who already chose to pay per use.
    /// </summary>
    public async Task SaveCardAsync(string userId, SavedCard? card, bool optIn, CancellationToken ct)
    {
        await db.ExecuteAsync(SaveCardSql, new
        {
            userId, paymentMethodId = card?.PaymentMethodId, brand = card?.Brand, last4 = card?.Last4, expMonth = card?.ExpMonth, expYear = card?.ExpYear,
            optIn, now = clock.GetUtcNow().UtcDateTime,
        }, ct);
    }
}
