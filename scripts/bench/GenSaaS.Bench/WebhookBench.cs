using GenSaaS.Web.Features.Plans;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing;
using Microsoft.Extensions.Configuration;
using Stripe;

namespace GenSaaS.Bench;

/// <summary>
/// <c>GenSaaS.Bench webhooks --url URL --app-dir DIR</c>: a load tool for the webhook endpoint of a running app in Emulator mode.
/// Reads the app's configuration (its appsettings and the environment: data folder, webhook secret, plans) as the app does,
/// sends signed bundle purchases (checkout.session.completed, payment_intent.succeeded, charge.succeeded) for fresh users,
/// re-sends a share of them as duplicates, then checks in the app's database that every purchase was granted exactly once.
/// </summary>
public static class WebhookBench
{
    public const string Usage = "webhooks --url http://127.0.0.1:5080 --app-dir PUBLISHED_APP [--purchases 5000] [--users 200] [--duplicates 25] [--concurrency 32]";

    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken ct = default)
    {
        var options = ParseOptions(args);
        if (!options.TryGetValue("url", out var baseUrl) || !options.TryGetValue("app-dir", out var appDir))
        {
            await Console.Error.WriteLineAsync("usage: GenSaaS.Bench " + Usage);
            return 64;
        }
        var environment = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? "Production";
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(appDir, "appsettings.json"), optional: false)
            .AddJsonFile(Path.Combine(appDir, $"appsettings.{environment}.json"), optional: true)
            .AddEnvironmentVariables()
            .Build();
        if (!string.Equals(configuration["Billing:Mode"], "Emulator", StringComparison.OrdinalIgnoreCase))
        {
            await output.WriteLineAsync("The bench signs its own events and creates users: it runs only against an app in Emulator mode (Billing:Mode=Emulator).");
            return 2;
        }
        var secret = configuration["Billing:WebhookSecret"];
        if (string.IsNullOrEmpty(secret))
        {
            await output.WriteLineAsync("Set Billing:WebhookSecret (Billing__WebhookSecret) for both the app and the bench: events are signed with it.");
            return 2;
        }
        var plans = configuration.GetSection("Billing").Get<PlanCatalogOptions>() ?? new PlanCatalogOptions();
        var plan = plans.Plans.GetValueOrDefault(PlanCatalog.Bundle10)
            ?? throw new InvalidOperationException($"Plan '{PlanCatalog.Bundle10}' is not configured under Billing:Plans");
        var url = new Uri(new Uri(baseUrl), "/api/billing/webhook");
        var purchases = int.Parse(options.GetValueOrDefault("purchases", "5000"));
        var userCount = int.Parse(options.GetValueOrDefault("users", "200"));
        var duplicatePercent = int.Parse(options.GetValueOrDefault("duplicates", "25"));
        var concurrency = int.Parse(options.GetValueOrDefault("concurrency", "32"));
        await using var db = new Db(AppPaths.FromConfiguration(configuration, appDir));

        var run = Guid.NewGuid().ToString("N")[..8];
        var userIds = await CreateUsersAsync(db, run, userCount);

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

    private const string CreateUserSql = """
        INSERT INTO AspNetUsers (Id, UserName, NormalizedUserName, Email, NormalizedEmail, EmailConfirmed, SecurityStamp, ConcurrencyStamp,
                                 PhoneNumberConfirmed, TwoFactorEnabled, LockoutEnabled, AccessFailedCount)
        VALUES (@id, @email, upper(@email), @email, upper(@email), 1, @stamp, @stamp, 0, 0, 1, 0);
        """;

    /// <summary>Customers for the purchases, written straight into the app's user table (the bench needs ids, not sign-ins).</summary>
    private static async Task<List<string>> CreateUsersAsync(Db db, string run, int count)
    {
        var ids = Enumerable.Range(0, count).Select(_ => Guid.NewGuid().ToString()).ToList();
        await using var connection = await db.OpenAsync();
        await using var tx = connection.BeginTransaction();
        foreach (var (id, i) in ids.Select((id, i) => (id, i)))
            await connection.ExecuteAsync(CreateUserSql, new { id, email = $"bench-{run}-{i}@example.com", stamp = Guid.NewGuid().ToString("N") }, tx);
        tx.Commit();
        return ids;
    }

    private static Dictionary<string, string> ParseOptions(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
                throw new ArgumentException($"Expected an option, got '{args[i]}'");
            options[args[i][2..]] = args[i + 1];
        }
        return options;
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
