using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Billing;

namespace GenSaaS.Web.Features.Admin;

/// <summary>Everything the customer page and <c>GET /api/v1/admin/customers/{id}</c> show of one account, read without writing anything.</summary>
public sealed record CustomerDetail(CustomerRow Customer, IReadOnlyList<string> Roles, CustomerStanding Standing, IReadOnlyList<ApiKeyRecord> ApiKeys,
    IReadOnlyList<CustomerDirectory.LedgerLine> RecentLedger);

public sealed class CustomerDetails(Db db, CustomerDirectory directory, ApiKeyStore keys)
{
    public const int RecentLedgerLines = 10;

    /// <summary>The account, or null when no user has this id.</summary>
    public async Task<CustomerDetail?> GetAsync(string userId, CancellationToken ct)
    {
        if (await directory.FindAsync(userId, ct) is not { } customer)
            return null;
        var roles = await directory.RolesAsync(userId, ct);
        var standing = await db.ReadAsync(c => CustomerFacts.Read(c, null, userId), ct);
        var apiKeys = await keys.ListAsync(userId, ct);
        var ledger = await directory.RecentLedgerAsync(userId, RecentLedgerLines, ct);
        return new CustomerDetail(customer, roles, standing, apiKeys, ledger);
    }
}
