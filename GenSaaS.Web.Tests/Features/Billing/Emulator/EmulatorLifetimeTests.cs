using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>Runs alone: it counts threads of the whole test process, which apps of other classes would add to.</summary>
[CollectionDefinition(nameof(EmulatorLifetimeCollection), DisableParallelization = true)]
public sealed class EmulatorLifetimeCollection;

[Collection(nameof(EmulatorLifetimeCollection))]
public sealed class EmulatorLifetimeTests
{
    /// <summary>
    /// The names .NET gives the threads of a database write queue, as Linux keeps them (15 characters) in
    /// <c>/proc/self/task/*/comm</c>. An app that stops must leave none of them behind.
    /// </summary>
    private static int DatabaseThreads() =>
        Directory.GetDirectories("/proc/self/task")
            .Select(task => { try { return System.IO.File.ReadAllText(Path.Combine(task, "comm")).Trim(); } catch (IOException) { return ""; } })
            .Count(name => name.StartsWith("GenSaaS write", StringComparison.Ordinal) || name.StartsWith("GenSaaS checkp", StringComparison.Ordinal));

    private static async Task<int> SettledDatabaseThreadsAsync(int atMost)
    {
        var count = DatabaseThreads();
        for (var i = 0; i < 50 && count > atMost; i++)
        {
            await Task.Delay(100);
            count = DatabaseThreads();
        }
        return count;
    }

    [Fact]
    public async Task TwentyAppsWithTheEmulator_StartAndStop_LeaveNoThreadOrLoopOfItsOwnRunning()
    {
        Assert.True(OperatingSystem.IsLinux(), "Thread names are read from /proc; run this test on Linux (as CI and the container do).");
        var before = await SettledDatabaseThreadsAsync(int.MaxValue);
        var emulatorLoops = new List<BackgroundService>();

        for (var i = 0; i < 20; i++)
        {
            using var app = new EmulatorApp(new() { ["Jobs:RunServer"] = "false" });
            // One real call, so the emulator's store and its connections are in use when the app stops.
            (await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions { Email = $"c{i}@example.com" })).Id.ShouldStartWith("cus_");
            emulatorLoops.AddRange(app.Services.GetServices<IHostedService>().OfType<BackgroundService>()
                .Where(s => s.GetType().FullName!.Contains("Emulator", StringComparison.Ordinal)));
        }

        emulatorLoops.Count.ShouldBe(40);
        emulatorLoops.ShouldAllBe(loop => loop.ExecuteTask == null || loop.ExecuteTask.IsCompleted);
        (await SettledDatabaseThreadsAsync(before)).ShouldBeLessThanOrEqualTo(before);
    }
}
