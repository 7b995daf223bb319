using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Operations;
using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// <c>credits adjust --email E --amount N --reason R [--trial]</c>: grants (positive) or takes back (negative, never below zero)
/// credits as a ledger line of kind <c>adjustment</c>, audited with the operator's OS user as actor.
/// </summary>
public class CreditsAdjustCommand(UserManager<IdentityUser> users, CreditAdjustments adjustments) : ICliCommand
{
    public virtual string Name => "credits adjust";

    public virtual string Usage => "credits adjust --email E --amount N --reason R [--trial]   (negative N takes back; audited)";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var email = args.Required("email");
        var amount = args.OptionalLong("amount") ?? throw new CliUsageException("--amount is required");
        var reason = args.Required("reason").Trim();
        if (amount == 0 || Math.Abs(amount) > CreditAdjustments.MaxAmount)
            throw new CliUsageException($"--amount must be a non-zero whole number from -{CreditAdjustments.MaxAmount} to {CreditAdjustments.MaxAmount}");
        if (reason.Length > CreditAdjustments.MaxReasonLength)
            throw new CliUsageException($"--reason must be at most {CreditAdjustments.MaxReasonLength} characters");
        var user = await users.FindByEmailAsync(email) ?? throw new CliUsageException($"No user with email {email}");
        var bucket = args.Has("trial") ? CreditBucket.Trial : CreditBucket.Prepaid;
        var outcome = await adjustments.AdjustAsync(AuditActor.Cli(), user.Id, bucket, (int)amount, reason, $"cli:{Guid.CreateVersion7():N}", ct);
        if (outcome.Status != AdjustStatus.Applied)
        {
            await Console.Error.WriteLineAsync($"error: {outcome.Message ?? "nothing was changed"}");
            return 1;
        }
        await output.WriteLineAsync($"{(amount > 0 ? "Granted" : "Took back")} {Math.Abs(amount)} {CreditLedger.BucketName(bucket)} credit(s) for {email}; " +
                                    $"{CreditLedger.BucketName(bucket)} balance now {outcome.Balance} (audit {AuditLog.IdPrefix}{outcome.AuditId}).");
        return 0;
    }
}

/// <summary><c>credits grant</c>: the older name of <see cref="CreditsAdjustCommand"/>, kept for scripts; the same audited adjustment.</summary>
public sealed class CreditsGrantCommand(UserManager<IdentityUser> users, CreditAdjustments adjustments) : CreditsAdjustCommand(users, adjustments)
{
    public override string Name => "credits grant";

    public override string Usage => "credits grant --email E --amount N --reason R [--trial]   (same as credits adjust)";
}

/// <summary><c>audit tail [--lines N] [--actor A] [--action A] [--target T]</c>: the newest audit entries, newest last.</summary>
public sealed class AuditTailCommand(AuditLog audit) : ICliCommand
{
    public string Name => "audit tail";

    public string Usage => "audit tail [--lines N] [--actor A] [--action A] [--target T]";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var lines = (int)Math.Clamp(args.OptionalLong("lines") ?? 20, 1, 1000);
        var filter = new AuditFilter(args.Optional("actor"), args.Optional("action"), args.Optional("target"));
        var (entries, _) = await audit.PageAsync(filter, lines, null, ct);
        entries.Reverse();
        foreach (var e in entries)
            await output.WriteLineAsync($"{e.At:yyyy-MM-dd HH:mm:ss}  {e.PublicId,-10} {e.Actor} ({e.ActorKind})  {e.Action}  {e.Target ?? "-"}  " +
                                        $"\"{e.Reason}\"  before={e.Before ?? "-"} after={e.After ?? "-"}");
        return 0;
    }
}

/// <summary>
/// <c>users confirm|lock|unlock|promote|demote --email E [--reason R]</c>: the customer page's account actions for an operator on
/// the server, audited with the OS user as actor (<c>cli:alice</c>). A repeat changes nothing; the last admin is never locked or demoted.
/// </summary>
public sealed class UsersAccountCommand(AccountChange action, string word, UserManager<IdentityUser> users, AccountActions actions) : ICliCommand
{
    /// <summary>The reason written when the operator gives none.</summary>
    public const string DefaultReason = "operator command (no reason given)";

    public static readonly IReadOnlyList<(AccountChange Action, string Word)> All =
    [
        (AccountChange.ConfirmEmail, "confirm"), (AccountChange.Lock, "lock"), (AccountChange.Unlock, "unlock"),
        (AccountChange.Promote, "promote"), (AccountChange.Demote, "demote"),
    ];

    public string Name => $"users {word}";

    public string Usage => $"users {word} --email E [--reason R]   (audited)";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var email = args.Required("email");
        var reason = args.Has("reason") ? args.Required("reason").Trim() : DefaultReason;
        if (reason.Length > AccountActions.MaxReasonLength)
            throw new CliUsageException($"--reason must be at most {AccountActions.MaxReasonLength} characters");
        var user = await users.FindByEmailAsync(email);
        if (user is null)
        {
            await Console.Error.WriteLineAsync($"error: no user with email {email}; nothing changed");
            return 1;
        }
        var outcome = await actions.RunAsync(AuditActor.Cli(), user.Id, action, reason, ct: ct);
        switch (outcome.Status)
        {
            case AccountActionStatus.Applied:
                await output.WriteLineAsync($"{outcome.Message} (audit {AuditLog.IdPrefix}{outcome.AuditId})");
                return 0;
            case AccountActionStatus.Unchanged:
                await output.WriteLineAsync(outcome.Message);
                return 0;
            default:
                await Console.Error.WriteLineAsync($"error: {outcome.Message}");
                return 1;
        }
    }
}
