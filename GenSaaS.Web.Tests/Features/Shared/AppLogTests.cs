using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GenSaaS.Web.Tests.Features.Shared;

/// <summary>
/// Each app writes its log to its own data directory through its own logger: a second app in the same process (the CLI
/// beside the server, tests side by side) neither takes the first one's lines nor silences it when it stops.
/// </summary>
public sealed class AppLogTests
{
    private static string LogText(TestApp app)
    {
        var text = new System.Text.StringBuilder();
        foreach (var file in Directory.EnumerateFiles(app.DataDir, "gensaas-*.log", SearchOption.AllDirectories))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            text.Append(new StreamReader(stream).ReadToEnd());
        }
        return text.ToString();
    }

    private static void Log(TestApp app, string marker) =>
        app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("GenSaaS.LogProbe").LogWarning("probe {Marker}", marker);

    [Fact]
    public void TwoAppsInOneProcess_EachLogsToItsOwnFile_AndStoppingOneLeavesTheOtherLogging()
    {
        using var first = new TestApp();
        _ = first.Services;
        var second = new TestApp();
        _ = second.Services;

        Log(first, "first-before");
        Log(second, "second-before");
        LogText(first).ShouldContain("first-before");
        LogText(first).ShouldNotContain("second-before");
        LogText(second).ShouldContain("second-before");
        LogText(second).ShouldNotContain("first-before");

        second.Dispose();
        Log(first, "first-after");
        LogText(first).ShouldContain("first-after");
    }
}
