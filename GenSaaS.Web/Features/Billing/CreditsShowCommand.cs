using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Operations;
using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Features.Billing;

/// <summary><c>credits show --email E</c>: balances, plan and the last ledger lines.</summary>
public sealed class CreditsShowCommand(UserManager<IdentityUser> users, AccountSummaries summaries, Db db) : ICliCommand
{
    public string Name => "credits show";

    public string Usage => "credits show --email E [--lines N]";

    private const string LastLinesSql = """
        SELECT created_at AS CreatedAt, bucket, kind, amount, balance_after AS BalanceAfter, reason, reference, actor
        FROM credit_ledger
        WHERE user_id = @userId
        ORDER BY id DESC
        LIMIT @lines;
        """;

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var email = args.Required("email");
        var lines = (int)Math.Clamp(args.OptionalLong("lines") ?? 10, 1, 1000);
        var user = await users.FindByEmailAsync(email) ?? throw new CliUsageException($"No user with email {email}");
        var summary = await summaries.GetAsync(user.Id, ct);
        await output.WriteLineAsync($"{email}: {summary.CreditsRemaining} credit(s) (trial {summary.TrialCredits}, prepaid {summary.PrepaidCredits}); plan {summary.PlanName}; {summary.UsedThisPeriod} generation(s) since {summary.PeriodStart:yyyy-MM-dd}");
        await using var connection = await db.OpenAsync(ct);
        var entries = await connection.QueryAsync<LedgerLine>(new CommandDefinition(LastLinesSql, new { userId = user.Id, lines }, cancellationToken: ct));
        foreach (var e in entries)
            await output.WriteLineAsync($"  {e.CreatedAt:yyyy-MM-dd HH:mm:ss}  {e.Kind,-15} {e.Bucket,-7} {e.Amount,6:+#;-#;0} -> {e.BalanceAfter,6}  {e.Reason}  [{e.Actor}{(e.Reference is null ? "" : ", " + e.Reference)}]");
        return 0;
    }

    private sealed record LedgerLine(DateTime CreatedAt, string Bucket, string Kind, long Amount, long BalanceAfter, string Reason, string? Reference, string Actor);
}
