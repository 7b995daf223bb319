using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace GenSaaS.E2E.Infrastructure;

/// <summary>One user's walk through the app in a fresh browser context, with a numbered screenshot per step.</summary>
public sealed class Journey
{
    private readonly string _shotDir;
    private int _step;

    private Journey(IPage page, Uri baseAddress, string shotDir)
    {
        Page = page;
        BaseAddress = baseAddress;
        _shotDir = shotDir;
    }

    public IPage Page { get; }

    public Uri BaseAddress { get; }

    /// <summary>Where the screenshots go: <c>E2E_SCREENSHOTS_DIR</c>, else beside the test assembly.</summary>
    public static string ScreenshotRoot =>
        Environment.GetEnvironmentVariable("E2E_SCREENSHOTS_DIR") is { Length: > 0 } dir
            ? Path.GetFullPath(dir)
            : Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");

    /// <summary>Runs <paramref name="steps"/> and, when one fails, adds a last screenshot and the app's output to the failure.</summary>
    public static async Task RunAsync(E2EFixture fixture, ITestOutputHelper output, string testName, Func<Journey, Task> steps)
    {
        var shotDir = Path.Combine(ScreenshotRoot, testName);
        if (Directory.Exists(shotDir))
            Directory.Delete(shotDir, recursive: true);
        Directory.CreateDirectory(shotDir);

        await using var context = await fixture.Browser.NewContextAsync(new()
        {
            BaseURL = fixture.App.BaseAddress.ToString(),
            ViewportSize = new() { Width = 1280, Height = 900 },
            Locale = "en-US",
        });
        // The first request to each page compiles and warms caches in a cold process on a shared 2-core machine.
        context.SetDefaultTimeout(30_000);
        var page = await context.NewPageAsync();
        var journey = new Journey(page, fixture.App.BaseAddress, shotDir);
        try
        {
            await steps(journey);
        }
        catch (Exception ex)
        {
            var shot = await journey.TryShotAsync("failed");
            var appOutput = fixture.App.Output;
            output.WriteLine(appOutput);
            throw new JourneyFailedException(
                $"{testName} failed at {page.Url} after step {journey._step} ({ex.GetType().Name}: {ex.Message})" +
                $"\nlast screenshot: {shot ?? "none"}\n--- app output (last 6000 chars) ---\n{Tail(appOutput, 6000)}", ex);
        }
    }

    public async Task GotoAsync(string path)
    {
        var response = await Page.GotoAsync(path);
        if (response is not null && response.Status >= 400)
            throw new JourneyFailedException($"GET {path} answered {response.Status}", null);
    }

    /// <summary>Saves <c>nn-step.png</c> of the whole page.</summary>
    public async Task<string> ShotAsync(string step)
    {
        _step++;
        var file = Path.Combine(_shotDir, $"{_step:00}-{Regex.Replace(step, "[^a-z0-9]+", "-")}.png");
        await Page.ScreenshotAsync(new() { Path = file, FullPage = true });
        return file;
    }

    private async Task<string?> TryShotAsync(string step)
    {
        try
        {
            return await ShotAsync(step);
        }
        catch (PlaywrightException)
        {
            return null;
        }
    }

    private static string Tail(string text, int chars) => text.Length <= chars ? text : "…" + text[^chars..];
}

public sealed class JourneyFailedException(string message, Exception? inner) : Exception(message, inner);
