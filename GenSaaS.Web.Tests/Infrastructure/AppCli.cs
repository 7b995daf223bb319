using System.Diagnostics;

namespace GenSaaS.Web.Tests.Infrastructure;

public sealed record CliResult(int ExitCode, string Output, string Error);

/// <summary>Runs an operator command as an operator would: the built app binary in its own process, on a data folder.</summary>
public static class AppCli
{
    public static Task<CliResult> RunAsync(string dataDir, params string[] args) =>
        RunAsync(dataDir, new Dictionary<string, string>(), args);

    /// <summary>Runs the command with extra environment variables (configuration as <c>Section__Key</c>).</summary>
    public static async Task<CliResult> RunAsync(string dataDir, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "GenSaaS.Web.dll"));
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment["App__DataDir"] = dataDir;
        start.Environment["DOTNET_ENVIRONMENT"] = "Development";
        foreach (var (name, value) in environment)
            start.Environment[name] = value;

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);
        return new CliResult(process.ExitCode, await output, await error);
    }
}
