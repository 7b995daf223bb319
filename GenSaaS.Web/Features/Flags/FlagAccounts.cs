using Dapper;
using GenSaaS.Web.Data;

namespace GenSaaS.Web.Features.Flags;

/// <summary>The accounts a flag lists: given by email or user id, stored as user ids, shown with their emails.</summary>
public sealed class FlagAccounts(Db db)
{
    public sealed record Account(string Id, string? Email);

    private const string FindSql = """
        SELECT Id, Email FROM AspNetUsers WHERE Id IN @ids OR NormalizedEmail IN @emails;
        """;

    /// <summary>The user ids of <paramref name="given"/> (each an email, any case, or a user id), and the entries that name nobody.</summary>
    public async Task<(List<string> Ids, List<string> Unknown)> ResolveAsync(IEnumerable<string> given, CancellationToken ct = default)
    {
        var entries = given.Select(g => g.Trim()).Where(g => g.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        if (entries.Count == 0)
            return ([], []);
        var found = await db.ReadAsync(c => c.Query<Account>(FindSql,
            new { ids = entries, emails = entries.Select(e => e.ToUpperInvariant()).ToList() }).AsList(), ct);
        var ids = new List<string>();
        var unknown = new List<string>();
        foreach (var entry in entries)
        {
            var match = found.FirstOrDefault(a => a.Id == entry)
                        ?? found.FirstOrDefault(a => string.Equals(a.Email, entry, StringComparison.OrdinalIgnoreCase));
            if (match is null)
                unknown.Add(entry);
            else
                ids.Add(match.Id);
        }
        return (ids.Distinct(StringComparer.Ordinal).ToList(), unknown);
    }

    private const string EmailsSql = """
        SELECT Id, Email FROM AspNetUsers WHERE Id IN @ids;
        """;

    /// <summary>Each id with its email (null for an account deleted since it was listed).</summary>
    public async Task<List<Account>> DescribeAsync(IReadOnlyList<string> ids, CancellationToken ct = default)
    {
        if (ids.Count == 0)
            return [];
        var emails = await db.ReadAsync(c => c.Query<Account>(EmailsSql, new { ids }).ToDictionary(a => a.Id, a => a.Email, StringComparer.Ordinal), ct);
        return ids.Select(id => new Account(id, emails.GetValueOrDefault(id))).ToList();
    }
}
