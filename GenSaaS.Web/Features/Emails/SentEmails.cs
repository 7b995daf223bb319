using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Features.Emails;

/// <summary>Reads <c>sent_emails</c>, so a caller can skip queueing a job for an email about an event that already went out.</summary>
public sealed class SentEmails(Db db)
{
    private const string SentSql = "SELECT count(*) FROM sent_emails WHERE kind = @kind AND reference = @reference AND sent_at IS NOT NULL;";

    /// <summary>True once the email of kind <typeparamref name="TEmail"/> about <paramref name="reference"/> was sent.</summary>
    public async Task<bool> WasSentAsync<TEmail>(string reference, CancellationToken ct = default) where TEmail : Email
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(SentSql, new { kind = typeof(TEmail).Name, reference }, cancellationToken: ct)) > 0;
    }
}
