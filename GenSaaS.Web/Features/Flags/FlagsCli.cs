using System.Globalization;
using GenSaaS.Web.Features.Admin;
using GenSaaS.Web.Features.Operations;

namespace GenSaaS.Web.Features.Flags;

/// <summary><c>flags list</c>: every flag, whether it is stored, on or off, its rollout and message.</summary>
public sealed class FlagsListCommand(FlagStore store, FlagAccounts accounts) : ICliCommand
{
    public string Name => "flags list";

    public string Usage => "flags list";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        foreach (var flag in await store.ReadAllAsync(ct))
        {
            var listed = await accounts.DescribeAsync(flag.Accounts, ct);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{flag.Name,-14} {(flag.Enabled ? "on" : "off"),-4} {flag.Percentage,3}%  accounts: {(listed.Count == 0 ? "-" : string.Join(", ", listed.Select(a => a.Email ?? a.Id)))}" +
                $"  message: {flag.Message ?? "-"}  {(flag.Stored ? $"(set by {flag.UpdatedBy} at {flag.UpdatedAt:yyyy-MM-dd HH:mm:ss})" : "(never set: as configured)")}"));
        }
        return 0;
    }
}

/// <summary>
/// <c>flags set NAME --on|--off [--percent N] [--accounts a,b] [--message M] --reason R</c>: changes a flag, audited with the
/// operator's OS user as actor. Options left out keep their value. The running app sees it within <c>Flags:CacheSeconds</c>.
/// </summary>
public sealed class FlagsSetCommand(FlagStore store, FlagAccounts accounts) : ICliCommand
{
    public string Name => "flags set";

    public bool TakesName => true;

    public string Usage => "flags set NAME --on|--off [--percent N] [--accounts EMAIL,ID,...] [--message M] --reason R   (audited)";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var name = args.Positional ?? throw new CliUsageException($"name a flag: {string.Join(", ", FlagNames.All.Select(f => f.Name))}");
        if (FlagNames.Find(name) is null)
            throw new CliUsageException($"no flag '{name}'; the flags are {string.Join(", ", FlagNames.All.Select(f => f.Name))}");
        if (args.Has("on") && args.Has("off"))
            throw new CliUsageException("give --on or --off, not both");
        bool? enabled = args.Has("on") ? true : args.Has("off") ? false : null;
        var percent = args.OptionalLong("percent");
        if (percent is < 0 or > 100)
            throw new CliUsageException("--percent must be from 0 to 100");
        var reason = args.Required("reason").Trim();
        if (reason.Length > FlagStore.MaxReasonLength)
            throw new CliUsageException($"--reason must be at most {FlagStore.MaxReasonLength} characters");
        var message = args.Optional("message");
        if (message is { Length: > FlagStore.MaxMessageLength })
            throw new CliUsageException($"--message must be at most {FlagStore.MaxMessageLength} characters");
        var update = new FlagUpdate(enabled, (int?)percent, null, message, args.Has("message"));
        if (args.Has("accounts"))
        {
            var (ids, unknown) = await accounts.ResolveAsync((args.Optional("accounts") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries), ct);
            if (unknown.Count > 0)
                throw new CliUsageException($"no account has the email or id: {string.Join(", ", unknown)}");
            update = update with { Accounts = ids };
        }
        if (update is { Enabled: null, Percentage: null, Accounts: null, SetMessage: false })
            throw new CliUsageException("say what to change: --on, --off, --percent, --accounts or --message");
        var outcome = await store.SetAsync(AuditActor.Cli(), name, update, reason, null, ct);
        var after = outcome.After;
        await output.WriteLineAsync(outcome.Status == FlagSetStatus.Changed
            ? $"{name} is now {(after.Enabled ? "on" : "off")} ({after.Percentage}% and {after.Accounts.Count} listed account(s)) (audit {AuditLog.IdPrefix}{outcome.AuditId})."
            : $"{name} already was like that; nothing changed.");
        return 0;
    }
}
