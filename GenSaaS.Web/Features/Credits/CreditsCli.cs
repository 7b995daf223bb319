using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Operations;
using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Features.Credits;

/// <summary><c>credits grant --email E --amount N --reason R [--trial]</c>: adds (or with a negative amount, removes) credits.</summary>
public sealed class CreditsGrantCommand(UserManager<IdentityUser> users, CreditLedger ledger) : ICliCommand
{
    public string Name => "credits grant";

    public string Usage => "credits grant --email E --amount N --reason R [--trial]";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var email = args.Required("email");
        var amount = args.OptionalLong("amount") ?? throw new CliUsageException("--amount is required");
        var reason = args.Required("reason");
        if (amount == 0 || Math.Abs(amount) > 1_000_000)
            throw new CliUsageException("--amount must be a non-zero whole number of at most 1,000,000");
        var user = await users.FindByEmailAsync(email) ?? throw new CliUsageException($"No user with email {email}");
        var bucket = args.Has("trial") ? CreditBucket.Trial : CreditBucket.Prepaid;
        var actor = $"cli:{Environment.UserName}";
        try
        {
            var result = amount > 0
                ? await ledger.GrantAsync(user.Id, bucket, (int)amount, reason, reference: null, actor, ct)
                : await ledger.AdjustAsync(user.Id, bucket, (int)amount, reason, reference: null, actor, ct);
            await output.WriteLineAsync($"{(amount > 0 ? "Granted" : "Removed")} {Math.Abs(amount)} {bucket.ToString().ToLowerInvariant()} credit(s) for {email}; balance now {result.BalanceAfter}.");
            return 0;
        }
        catch (InsufficientCreditsException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return 1;
        }
    }
}
