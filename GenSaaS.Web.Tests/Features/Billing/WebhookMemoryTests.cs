using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>Measures the memory of this whole process, so nothing else may run beside it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryCollection
{
    public const string Name = "Memory (runs alone)";
}

/// <summary>Attackers streaming huge bodies at the webhook endpoint: the app (in this process) must not buffer them.</summary>
[Collection(MemoryCollection.Name)]
public sealed class WebhookMemoryTests
{
    private const long BodyBytes = 28L * 1024 * 1024;
    private const long AllowedGrowth = 100L * 1024 * 1024;

    /// <summary>A body of the given size made on the fly from one small buffer, so the sender holds no copy of it.</summary>
    private sealed class GeneratedContent(long length, bool announceLength) : HttpContent
    {
        private static readonly byte[] Block = System.Text.Encoding.ASCII.GetBytes(new string('[', 64 * 1024));

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (long sent = 0; sent < length; sent += Block.Length)
                await stream.WriteAsync(Block.AsMemory(0, (int)Math.Min(Block.Length, length - sent)));
        }

        protected override bool TryComputeLength(out long computed)
        {
            computed = length;
            return announceLength;
        }
    }

    /// <summary>Largest managed heap and working set seen while the work runs, over what they were before it.</summary>
    private static async Task<(long Managed, long WorkingSet)> PeakGrowthAsync(Func<Task> work)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var managedBefore = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var workingSetBefore = process.WorkingSet64;
        long managedPeak = managedBefore, workingSetPeak = workingSetBefore;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                managedPeak = Math.Max(managedPeak, GC.GetTotalMemory(false));
                process.Refresh();
                workingSetPeak = Math.Max(workingSetPeak, process.WorkingSet64);
                await Task.Delay(10);
            }
        });
        try
        {
            await work();
        }
        finally
        {
            await stop.CancelAsync();
            await sampler;
        }
        return (managedPeak - managedBefore, workingSetPeak - workingSetBefore);
    }

    private static async Task<List<HttpStatusCode?>> FloodAsync(BillingTestApp app, string? signature, bool announceLength)
    {
        using var client = app.NewClient();
        client.Timeout = TimeSpan.FromSeconds(90);
        var sends = Enumerable.Range(0, 8).Select(async _ =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new GeneratedContent(BodyBytes, announceLength) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            if (signature is not null)
                request.Headers.TryAddWithoutValidation("Stripe-Signature", signature);
            try
            {
                using var response = await client.SendAsync(request);
                return (HttpStatusCode?)response.StatusCode;
            }
            catch (HttpRequestException)
            {
                // The server answered and closed the connection while the rest of the body was still being sent.
                return null;
            }
        });
        return [.. await Task.WhenAll(sends)];
    }

    [Fact]
    public async Task EightParallelUnsigned28MegabyteBodies_AreRefused_WithoutTheProcessGrowingBy100MB()
    {
        using var app = new BillingTestApp();
        using (var warm = app.NewClient())
            (await warm.PostAsync("/api/billing/webhook", new StringContent("{}"))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        List<HttpStatusCode?> answers = [];
        var growth = await PeakGrowthAsync(async () => answers = await FloodAsync(app, signature: null, announceLength: true));

        answers.ShouldAllBe(status => status == null || status == HttpStatusCode.BadRequest);
        growth.Managed.ShouldBeLessThan(AllowedGrowth, $"managed heap grew by {growth.Managed / 1024 / 1024} MB");
        growth.WorkingSet.ShouldBeLessThan(AllowedGrowth, $"working set grew by {growth.WorkingSet / 1024 / 1024} MB");
        (await app.QueryAsync<long>("SELECT count(*) FROM stripe_events")).ShouldBe(0);
    }

    [Fact]
    public async Task EightParallelChunked28MegabyteBodies_WithAPlausibleSignature_StopAtOneMegabyteEach()
    {
        using var app = new BillingTestApp();
        var plausible = $"t={DateTimeOffset.UtcNow.ToUnixTimeSeconds()},v1={new string('a', 64)}";
        using (var warm = app.NewClient())
            (await warm.PostAsync("/api/billing/webhook", new StringContent("{}"))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        List<HttpStatusCode?> answers = [];
        var growth = await PeakGrowthAsync(async () => answers = await FloodAsync(app, plausible, announceLength: false));

        answers.ShouldAllBe(status => status == null || status == HttpStatusCode.RequestEntityTooLarge);
        growth.Managed.ShouldBeLessThan(AllowedGrowth, $"managed heap grew by {growth.Managed / 1024 / 1024} MB");
        growth.WorkingSet.ShouldBeLessThan(AllowedGrowth, $"working set grew by {growth.WorkingSet / 1024 / 1024} MB");
        (await app.QueryAsync<long>("SELECT count(*) FROM stripe_events")).ShouldBe(0);
    }
}
