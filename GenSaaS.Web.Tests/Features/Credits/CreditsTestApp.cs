using Dapper;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Credits;

/// <summary>The app with no trial credits, the Null generator and limits high enough that only the ledger decides.</summary>
public sealed class CreditsTestApp() : TestApp(new Dictionary<string, string?>
{
    ["Credits:TrialCredits"] = "0",
    ["Credits:TrialRatePerMinute"] = "100000",
    ["Billing:Plans:bundle_10:RatePerMinute"] = "100000",
    ["Billing:Plans:subscription_unlimited:RatePerMinute"] = "100000",
    ["Billing:Plans:subscription_unlimited:SoftLimit"] = "5",
    ["Billing:Plans:subscription_unlimited:HardCap"] = "7",
    ["Generation:Backend"] = "Null",
})
{
    public CreditLedger Ledger => Services.GetRequiredService<CreditLedger>();

    public async Task<(long Trial, long Prepaid)> BalanceAsync(string userId)
    {
        await using var connection = await Db.OpenAsync();
        return await connection.QuerySingleAsync<(long, long)>(
            "SELECT trial_balance, prepaid_balance FROM credit_balances WHERE user_id = @userId", new { userId });
    }

    public async Task<long> LedgerSumAsync(string userId)
    {
        await using var connection = await Db.OpenAsync();
        return await connection.ExecuteScalarAsync<long>("SELECT coalesce(sum(amount), 0) FROM credit_ledger WHERE user_id = @userId", new { userId });
    }

    public async Task<long> CountAsync(string sql, object args)
    {
        await using var connection = await Db.OpenAsync();
        return await connection.ExecuteScalarAsync<long>(sql, args);
    }

    public async Task ExecuteAsync(string sql, object args)
    {
        await using var connection = await Db.OpenAsync();
        await connection.ExecuteAsync(sql, args);
    }

    /// <summary>Gives the user a live monthly plan, as the billing webhooks would.</summary>
    public Task SubscribeAsync(string userId, string status = "active", string? id = null) =>
        ExecuteAsync("""
            INSERT INTO subscriptions (stripe_subscription_id, user_id, plan_key, status, current_period_start, current_period_end, updated_at)
            VALUES (@id, @userId, 'subscription_unlimited', @status, @start, @end, @start)
            """, new { id = id ?? "sub_" + Guid.NewGuid().ToString("N"), userId, status, start = DateTime.UtcNow.AddDays(-1), end = DateTime.UtcNow.AddDays(29) });
}
