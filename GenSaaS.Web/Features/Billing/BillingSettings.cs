using Dapper;
using GenSaaS.Web.Data;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// What billing keeps about the Stripe account it set up itself (<c>billing_settings</c>): the webhook endpoint that
/// <c>stripe sync</c> registered and its signing secret, and the customer portal configuration.
/// </summary>
public sealed class BillingSettings(Db db, TimeProvider clock)
{
    public const string WebhookEndpointIdKey = "webhook_endpoint_id";
    public const string WebhookSecretKey = "webhook_secret";
    public const string PortalConfigurationIdKey = "portal_configuration_id";

    private const string SelectSql = """
        SELECT value FROM billing_settings WHERE key = @key;
        """;

    public async Task<string?> GetAsync(string key, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(SelectSql, new { key }, cancellationToken: ct));
    }

    private const string UpsertSql = """
        INSERT INTO billing_settings (key, value, updated_at) VALUES (@key, @value, @now)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
        WHERE billing_settings.value <> excluded.value;
        """;

    /// <summary>Stores the values together, in one transaction (an endpoint's id and its secret belong together).</summary>
    public Task SetAsync(IReadOnlyDictionary<string, string> values, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        return db.WriteAsync((connection, tx) =>
        {
            foreach (var (key, value) in values)
                connection.Execute(UpsertSql, new { key, value, now }, tx);
            return 0;
        }, ct);
    }

    /// <summary>
    /// Reads one value straight from the database file (read-write: a WAL database cannot be opened read-only without its
    /// shared-memory file), for decisions taken while the app is being built (before
    /// migrations run): null when the file, the table or the key is not there yet.
    /// </summary>
    public static string? ReadAtStartup(string databaseFile, string key)
    {
        if (!File.Exists(databaseFile))
            return null;
        try
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = databaseFile, Mode = SqliteOpenMode.ReadWrite }.ToString());
            connection.Open();
            return connection.QuerySingleOrDefault<string>(SelectSql, new { key });
        }
        catch (SqliteException)
        {
            return null;
        }
    }
}
