using System.Net;
using System.Net.Http.Json;
using GenSaaS.Web.Features.Generation;
using GenSaaS.Web.Tests.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Operations;

/// <summary>What an operator reads when something went wrong: request logs that name the user and the usage, a log folder
/// that cannot fill the disk, and (when configured) the exception in Sentry.</summary>
public sealed class LoggingTests
{
    private static string ReadLogs(TestApp app) => app.ReadLogs();

    [Fact]
    public async Task TheRequestLogOfAGeneration_NamesTheUserAndTheUsage()
    {
        using var app = new TestApp(new() { ["Generation:Backend"] = "Null" });
        var (user, client) = await app.SignedInUserAsync();
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "logged" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        await using var connection = await app.Db.OpenAsync();
        var usageId = await Dapper.SqlMapper.ExecuteScalarAsync<string>(connection, "SELECT id FROM usage WHERE user_id = @Id", user);

        await BillingTestApp.EventuallyAsync(() => Task.FromResult(ReadLogs(app).Split('\n').Any(line =>
            line.Contains("POST /api/v1/generations responded 201", StringComparison.Ordinal)
            && line.Contains($"\"UserId\":\"{user.Id}\"", StringComparison.Ordinal)
            && line.Contains($"\"UsageId\":\"{usageId}\"", StringComparison.Ordinal))), "the request line with user and usage: "
            + string.Join('\n', ReadLogs(app).Split('\n').Where(l => l.Contains("/api/v1/generations", StringComparison.Ordinal))));
    }

    [Fact]
    public async Task TheLogFolder_KeepsAtMostTheConfiguredFilesOfTheConfiguredSize()
    {
        using var app = new TestApp(new() { ["Operations:Logs:FileSizeLimitBytes"] = "16384", ["Operations:Logs:RetainedFiles"] = "2" });
        var client = app.NewClient();
        for (var i = 0; i < 200; i++)
            (await client.GetAsync($"/no-such-page-{i}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        var files = Directory.GetFiles(Path.Combine(app.DataDir, "logs"), "*.log");
        files.Length.ShouldBeLessThanOrEqualTo(2);
        files.Sum(f => new FileInfo(f).Length).ShouldBeLessThanOrEqualTo(2 * 16384 + 4096);
        ReadLogs(app).ShouldContain("/no-such-page-199", customMessage: "the newest lines are the ones kept");
    }

    [Fact]
    public async Task WithASentryDsn_AnUnexpectedFaultIsReported_AndWithoutOneNothingIsSent()
    {
        using var sentry = new HttpReceiver();
        using (var app = new BrokenBackendApp(new() { ["Sentry:Dsn"] = $"http://0123456789abcdef0123456789abcdef@127.0.0.1:{sentry.Port}/42" }))
        {
            var (_, client) = await app.SignedInUserAsync();
            (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "crash" })).StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
            await BillingTestApp.EventuallyAsync(() => Task.FromResult(sentry.Requests.Any(r =>
                r.Path == "/api/42/envelope/" && r.Body.Contains("bug in the backend", StringComparison.Ordinal))), "the exception at Sentry");
        }

        var before = sentry.Requests.Count;
        using (var quiet = new BrokenBackendApp([]))
        {
            var (_, client) = await quiet.SignedInUserAsync();
            (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "crash" })).StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
            await Task.Delay(1000);
        }
        sentry.Requests.Count.ShouldBe(before);
    }

    /// <summary>Production (its exception handler, no developer page) with a backend that throws what none should.</summary>
    private sealed class BrokenBackendApp(Dictionary<string, string?> settings) : TestApp(settings)
    {
        protected override string EnvironmentName => "Production";

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureTestServices(services => services.AddSingleton<IImageGenerator, BrokenGenerator>());
        }

        private sealed class BrokenGenerator : IImageGenerator
        {
            public Task<GeneratedImage> GenerateAsync(string prompt, long seed, CancellationToken ct) =>
                throw new InvalidOperationException("bug in the backend");
        }
    }
}
