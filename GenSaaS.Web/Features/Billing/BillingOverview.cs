using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Features.Billing;

public sealed class BillingOverview(Db db)
{
    private const string SessionFulfilledSql = """
        SELECT count(*) FROM payments WHERE kind = 'bundle' AND stripe_id = @sessionId AND user_id = @userId AND status = 'paid';
        """;

    /// <summary>True once this user's bundle bought in this Checkout Session has been granted (by its webhook or the success page).</summary>
    public async Task<bool> IsFulfilledAsync(string sessionId, string userId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(SessionFulfilledSql, new { sessionId, userId }, cancellationToken: ct)) > 0;
    }

    private const string AsyncPaymentFailedSql = """
        SELECT count(*) FROM billing_notices WHERE kind = 'async_payment_failed' AND stripe_id = @sessionId AND user_id = @userId;
        """;

    /// <summary>True once Stripe said this user's delayed payment in this Checkout Session failed.</summary>
    public async Task<bool> AsyncPaymentFailedAsync(string sessionId, string userId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(AsyncPaymentFailedSql, new { sessionId, userId }, cancellationToken: ct)) > 0;
    }

    /// <summary>The amount with the currency's own decimals (<see cref="Shared.Money"/>).</summary>
    public static string Money(long minor, string currency) => Shared.Money.Format(minor, currency);
}
