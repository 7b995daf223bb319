namespace GenSaaS.Web.Features.Operations;

/// <summary>One operator command of the app binary, e.g. <c>GenSaaS.Web users add --email E</c>.</summary>
public interface ICliCommand
{
    /// <summary>The words that name it: <c>users add</c>.</summary>
    string Name { get; }

    /// <summary>One line for the help listing.</summary>
    string Usage { get; }

    Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct);

    /// <summary>True when the command takes one bare word after its name (<c>flags set billing --off</c>), read as <see cref="CliArgs.Positional"/>.</summary>
    bool TakesName => false;
}

/// <summary><c>--name value</c> options and bare <c>--flags</c> after the command's words.</summary>
public sealed class CliArgs
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.OrdinalIgnoreCase);

    public CliArgs(IEnumerable<string> args, bool takesName = false)
    {
        var list = args.ToList();
        if (takesName && list.Count > 0 && !list[0].StartsWith("--", StringComparison.Ordinal))
        {
            Positional = list[0];
            list.RemoveAt(0);
        }
        for (var i = 0; i < list.Count; i++)
        {
            if (!list[i].StartsWith("--", StringComparison.Ordinal))
                throw new CliUsageException($"Unexpected argument '{list[i]}'");
            var name = list[i][2..];
            var hasValue = i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal);
            _options[name] = hasValue ? list[++i] : null;
        }
    }

    /// <summary>The bare word after the command's name, for a command that <see cref="ICliCommand.TakesName"/>.</summary>
    public string? Positional { get; }

    public bool Has(string name) => _options.ContainsKey(name);

    public string? Optional(string name) => _options.GetValueOrDefault(name);

    public string Required(string name) =>
        _options.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value)
            ? value
            : throw new CliUsageException($"--{name} is required");

    public long? OptionalLong(string name) =>
        Optional(name) is { } text
            ? long.TryParse(text, out var n) ? n : throw new CliUsageException($"--{name} must be a whole number")
            : null;
}

public sealed class CliUsageException(string message) : Exception(message);

public static class CliSetup
{
    private static readonly HashSet<string> _commandWords = ["users", "apikeys", "credits", "stripe", "billing", "reconcile", "backup", "restore", "audit", "flags", "help", "--help"];

    /// <summary>True when the process was started as an operator command rather than a web server.</summary>
    public static bool IsCli(string[] args) => args.Length > 0 && _commandWords.Contains(args[0]);

    /// <summary>Runs the command named by <paramref name="args"/> and returns the process exit code.</summary>
    public static async Task<int> RunCliAsync(this WebApplication app, string[] args)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var commands = scope.ServiceProvider.GetServices<ICliCommand>().ToList();
        var output = Console.Out;
        var match = commands
            .Where(c => c.Name.Split(' ') is var words && args.Length >= words.Length && words.SequenceEqual(args.Take(words.Length), StringComparer.OrdinalIgnoreCase))
            .MaxBy(c => c.Name.Length);
        if (match is null)
        {
            await output.WriteLineAsync("GenSaaS operator commands:");
            foreach (var usage in commands.Select(c => c.Usage).Append(RestoreCommand.Usage).Order(StringComparer.Ordinal))
                await output.WriteLineAsync($"  GenSaaS.Web {usage}");
            return args.Length > 0 && args[0] is "help" or "--help" ? 0 : 64;
        }

        try
        {
            var words = match.Name.Split(' ').Length;
            return await match.RunAsync(new CliArgs(args.Skip(words), match.TakesName), output, CancellationToken.None);
        }
        catch (CliUsageException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}\nusage: GenSaaS.Web {match.Usage}");
            return 64;
        }
    }
}
