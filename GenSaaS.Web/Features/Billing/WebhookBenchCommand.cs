using GenSaaS.Web.Features.Plans;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Operations;
using Microsoft.AspNetCore.Identity;
using Stripe;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// <c>GenSaaS.Web billing bench-webhooks --url URL</c>: a load tool for the webhook endpoint of a running app in Emulator mode.
/// Sends signed bundle purchases (checkout.session.completed, payment_intent.succeeded, charge.succeeded) for fresh
/// users, re-sends a share of them as duplicates, then checks every purchase was granted exactly once.
/// </summary>
public sealed class WebhookBenchCommand(StripeGateway stripe, BillingModeInfo mode, PlanCatalog plans, UserManager<IdentityUser> users, Db db) : ICliCommand
{
    public string Name => "billing bench-webhooks";

    public string Usage => "billing bench-webhooks --url http://127.0.0.1:5080 [--purchases 5000] [--users 200] [--duplicates 25] [--concurrency 32]    (Emulator mode only)";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        if (!mode.IsEmulator)
        {
            await output.WriteLineAsync("The bench signs its own events and creates users: it runs only against an app in Emulator mode.");
            return 2;
        }
        var url = new Uri(new Uri(args.Required("url")), "/api/billing/webhook");
        var purchases = (int)(args.OptionalLong("purchases") ?? 5000);
        var userCount = (int)(args.OptionalLong("users") ?? 200);
        var duplicatePercent = (int)(args.OptionalLong("duplicates") ?? 25);
        var concurrency = (int)(args.OptionalLong("concurrency") ?? 32);
        var secret = stripe.WebhookSecret;
        var plan = plans.Get(PlanCatalog.Bundle10);

        var run = Guid.NewGuid().ToString("N")[..8];
        var userIds = new List<string>();
        for (var i = 0; i < userCount; i++)
        {
            var user = new IdentityUser { UserName = $"bench-{run}-{i}@example.com", Email = $"bench-{run}-{i}@example.com", EmailConfirmed = true };
            var created = await users.CreateAsync(user);
            if (!created.Succeeded)
                throw new InvalidOperationException(string.Join("; ", created.Errors.Select(e => e.Description)));
            userIds.Add(user.Id);
        }

        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var events = new List<string>(purchases * 3);
        for (var i = 0; i < purchases; i++)
        {
            var userId = userIds[i % userIds.Count];
            var pi = $"pi_bench{run}{i:D7}";
            var session = $"cs_test_bench{run}{i:D7}";
            events.Add(Event("checkout.session.completed", now, Session(session, pi, userId, plan)));
            events.Add(Event("payment_intent.succeeded", now, Intent(pi, userId, plan)));
            events.Add(Event("charge.succeeded", now, new JsonObject { ["id"] = $"ch_bench{run}{i:D7}", ["object"] = "charge", ["amount"] = plan.PriceMinor, ["currency"] = plan.Currency, ["payment_intent"] = pi }));
        }
        var random = new Random(42);
        var duplicates = events.Count * duplicatePercent / 100;
        var deliveries = new List<string>(events);
        for (var i = 0; i < duplicates; i++)
            deliveries.Add(events[random.Next(events.Count)]);
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(deliveries));

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency, PooledConnectionLifetime = TimeSpan.FromMinutes(5) });
        var latencies = new ConcurrentBag<double>();
        var failures = 0;
        var next = -1;
        await output.WriteLineAsync($"Sending {deliveries.Count} signed events ({events.Count} unique, {duplicates} duplicates) for {purchases} purchases by {userCount} users to {url} with {concurrency} connections…");
        var watch = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < deliveries.Count)
            {
                var payload = deliveries[index];
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
                request.Headers.TryAddWithoutValidation("Stripe-Signature", EventUtility.GenerateSignatureHeader(payload, secret, DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
                var started = Stopwatch.GetTimestamp();
                using var response = await http.SendAsync(request, ct);
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                if (response.StatusCode != HttpStatusCode.OK)
                    Interlocked.Increment(ref failures);
            }
        }).ToList();
        await Task.WhenAll(workers);
        var seconds = watch.Elapsed.TotalSeconds;

        await using var connection = await db.OpenAsync(ct);
        var statuses = (await connection.QueryAsync<(string Status, long Count)>(
            "SELECT status, count(*) FROM stripe_events WHERE id LIKE @prefix GROUP BY status", new { prefix = $"evt_bench%{run}%" })).ToDictionary(r => r.Status, r => r.Count);
        var granted = await connection.ExecuteScalarAsync<long>(
            "SELECT coalesce(sum(amount), 0) FROM credit_ledger WHERE kind = 'grant' AND reference LIKE @prefix", new { prefix = $"cs_test_bench{run}%" });
        var bundleRows = await connection.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM payments WHERE kind = 'bundle' AND stripe_id LIKE @prefix AND status = 'paid'", new { prefix = $"cs_test_bench{run}%" });

        var sorted = latencies.OrderBy(l => l).ToArray();
        double Percentile(double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
        var applied = statuses.GetValueOrDefault("applied") + statuses.GetValueOrDefault("ignored");
        await output.WriteLineAsync($"Elapsed:            {seconds:F2} s");
        await output.WriteLineAsync($"Accepted (200):     {deliveries.Count - failures} of {deliveries.Count}  ->  {(deliveries.Count - failures) / seconds:F0} events/s (duplicates included)");
        await output.WriteLineAsync($"Applied (unique):   {applied} of {events.Count}  ->  {applied / seconds:F0} events/s   (applied {statuses.GetValueOrDefault("applied")}, ignored types {statuses.GetValueOrDefault("ignored")}, failed {statuses.GetValueOrDefault("failed")})");
        await output.WriteLineAsync($"Latency:            p50 {Percentile(0.50):F1} ms, p95 {Percentile(0.95):F1} ms, p99 {Percentile(0.99):F1} ms, max {Percentile(1):F1} ms");
        await output.WriteLineAsync($"Credits granted:    {granted} (expected {(long)purchases * plan.Credits}); paid bundle payment rows: {bundleRows} of {purchases}");
        var ok = failures == 0 && applied == events.Count && granted == (long)purchases * plan.Credits && bundleRows == purchases;
        await output.WriteLineAsync(ok ? "OK: every purchase granted exactly once." : "MISMATCH: see the figures above.");
        return ok ? 0 : 1;
    }

    private static string Event(string type, long created, JsonObject obj) => new JsonObject
    {
        ["id"] = "evt_bench" + obj["id"]!.GetValue<string>().Replace("_", "", StringComparison.Ordinal) + type.Replace(".", "", StringComparison.Ordinal),
        ["object"] = "event",
        ["api_version"] = StripeConfiguration.ApiVersion,
        ["created"] = created,
        ["livemode"] = false,
        ["pending_webhooks"] = 1,
        ["request"] = new JsonObject { ["id"] = null, ["idempotency_key"] = null },
        ["type"] = type,
        ["data"] = new JsonObject { ["object"] = obj },
    }.ToJsonString();

    private static JsonObject Session(string id, string paymentIntent, string userId, PlanOptions plan) => new()
    {
        ["id"] = id,
        ["object"] = "checkout.session",
        ["amount_subtotal"] = plan.PriceMinor,
        ["amount_total"] = plan.PriceMinor,
        ["client_reference_id"] = userId,
        ["currency"] = plan.Currency,
        ["customer"] = "cus_bench",
        ["livemode"] = false,
        ["metadata"] = new JsonObject { ["plan_key"] = PlanCatalog.Bundle10, ["user_id"] = userId },
        ["mode"] = "payment",
        ["payment_intent"] = paymentIntent,
        ["payment_method_types"] = new JsonArray("card"),
        ["payment_status"] = "paid",
        ["status"] = "complete",
        ["success_url"] = "http://127.0.0.1/billing/success?session_id={CHECKOUT_SESSION_ID}",
        ["cancel_url"] = "http://127.0.0.1/billing/cancel",
    };

    private static JsonObject Intent(string id, string userId, PlanOptions plan) => new()
    {
        ["id"] = id,
        ["object"] = "payment_intent",
        ["amount"] = plan.PriceMinor,
        ["amount_received"] = plan.PriceMinor,
        ["capture_method"] = "automatic",
        ["currency"] = plan.Currency,
        ["customer"] = "cus_bench",
        ["latest_charge"] = "ch_" + id[3..],
        ["livemode"] = false,
        ["metadata"] = new JsonObject { ["plan_key"] = PlanCatalog.Bundle10, ["user_id"] = userId },
        ["status"] = "succeeded",
    };
}
