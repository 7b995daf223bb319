using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;

namespace GenSaaS.E2E.Infrastructure;

/// <summary>
/// The real app, started from its build output as a child process on Kestrel, on a free loopback port,
/// in Development, with a fresh data folder that is deleted when the app stops.
/// </summary>
public sealed class AppServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private const int MaxLogChars = 200_000;

    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private AppServer(Process process, Uri baseAddress, string dataDir)
    {
        _process = process;
        BaseAddress = baseAddress;
        DataDir = dataDir;
    }

    public Uri BaseAddress { get; }

    public string DataDir { get; }

    /// <summary>What the app printed so far, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_log)
                return _log.ToString();
        }
    }

    public static async Task<AppServer> StartAsync()
    {
        var webDll = LocateWebDll();
        var dataDir = Path.Combine(Path.GetTempPath(), "gensaas-e2e", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDir);
        var baseAddress = new Uri($"http://127.0.0.1:{FreePort()}");

        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(webDll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(webDll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(baseAddress.ToString().TrimEnd('/'));
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        start.Environment["DOTNET_ENVIRONMENT"] = "Development";
        start.Environment["App__DataDir"] = dataDir;
        // Every journey signs in from 127.0.0.1; the per-IP allowance is for the open internet.
        start.Environment["Accounts__Throttle__PerIp"] = "100000";
        // An inherited URL setting would fight with --urls.
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment.Remove("ASPNETCORE_HTTP_PORTS");

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var server = new AppServer(process, baseAddress, dataDir);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            await server.WaitUntilHealthyAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
                await _process.WaitForExitAsync(cts.Token);
            }
        }
        catch (InvalidOperationException)
        {
            // It never started, so there is nothing to stop.
        }
        _process.Dispose();
        DeleteDataDir();
    }

    private async Task WaitUntilHealthyAsync()
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + StartTimeout;
        string lastProblem = "no answer yet";
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"The app exited with code {_process.ExitCode} before it was healthy.\n--- app output ---\n{Output}");
            try
            {
                using var response = await http.GetAsync("/healthz");
                if (response.StatusCode == HttpStatusCode.OK)
                    return;
                lastProblem = $"/healthz answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}";
            }
            catch (HttpRequestException ex)
            {
                lastProblem = ex.Message;
            }
            catch (TaskCanceledException)
            {
                lastProblem = "/healthz timed out";
            }
            await Task.Delay(250);
        }
        throw new TimeoutException($"The app was not healthy within {StartTimeout.TotalSeconds} s ({lastProblem}).\n--- app output ---\n{Output}");
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_log)
        {
            // A runaway log must not exhaust memory; the start is what explains most failures.
            if (_log.Length < MaxLogChars)
                _log.AppendLine(line);
        }
    }

    private void DeleteDataDir()
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            try
            {
                if (Directory.Exists(DataDir))
                    Directory.Delete(DataDir, recursive: true);
                return;
            }
            catch (IOException)
            {
                // A killed process can hold files for a moment after it exits.
                Thread.Sleep(200);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// The web app's build output of the same configuration as this test assembly, found from the solution
    /// folder above the test output; <c>GENSAAS_WEB_DLL</c> points elsewhere (e.g. a published app).
    /// </summary>
    private static string LocateWebDll()
    {
        if (Environment.GetEnvironmentVariable("GENSAAS_WEB_DLL") is { Length: > 0 } overridden)
            return File.Exists(overridden) ? Path.GetFullPath(overridden) : throw new FileNotFoundException("GENSAAS_WEB_DLL names no file", overridden);

        var configuration = typeof(AppServer).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var targetFramework = new DirectoryInfo(AppContext.BaseDirectory).Name;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "GenSaaS.sln")))
                continue;
            var dll = Path.Combine(dir.FullName, "GenSaaS.Web", "bin", configuration, targetFramework, "GenSaaS.Web.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"Build GenSaaS.Web ({configuration}) first", dll);
        }
        throw new DirectoryNotFoundException($"No GenSaaS.sln above {AppContext.BaseDirectory}; set GENSAAS_WEB_DLL");
    }
}
