using System.Diagnostics;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Generation;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace GenSaaS.Bench;

/// <summary>
/// Ledger throughput in process: reserve+complete pairs per second against the raw rate of two
/// plain BEGIN IMMEDIATE writes on the same file with the same connection settings.
/// </summary>
public static class LedgerBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0]) : 10;
        var concurrency = args.Length > 1 ? int.Parse(args[1]) : 8;
        var dir = Path.Combine(Path.GetTempPath(), "gensaas-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            var paths = new AppPaths(dir);
            var db = new Db(paths);
            Migrator.Migrate(db, NullLogger.Instance);
            var userId = await CreateUserAsync(db);

            var plans = new PlanCatalog(Options.Create(new PlanCatalogOptions()));
            var ledger = new CreditLedger(db, plans, Options.Create(new CreditsOptions { TrialCredits = 0 }), TimeProvider.System, NullLogger<CreditLedger>.Instance);
            await ledger.GrantAsync(userId, CreditBucket.Prepaid, 100_000_000, "benchmark", "bench", "bench");

            await using (var connection = await db.OpenAsync())
                await connection.ExecuteAsync("CREATE TABLE bench_raw (id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL)");

            // Warm both paths so JIT and page cache are out of the figures.
            await MeasureAsync(2, concurrency, () => LedgerPairAsync(ledger, userId));
            await MeasureAsync(2, concurrency, () => RawPairAsync(db));

            var raw = await MeasureAsync(seconds, concurrency, () => RawPairAsync(db));
            var pairs = await MeasureAsync(seconds, concurrency, () => LedgerPairAsync(ledger, userId));
            Console.WriteLine($"raw_pairs_per_s={raw:F0}");
            Console.WriteLine($"ledger_pairs_per_s={pairs:F0}");
            Console.WriteLine($"ledger_over_raw={pairs / raw:F2}");
            return 0;
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task LedgerPairAsync(CreditLedger ledger, string userId)
    {
        var key = Guid.NewGuid().ToString("N");
        var reservation = await ledger.ReserveAsync(userId, key, "bench");
        if (reservation.Status != ReserveStatus.Reserved)
            throw new InvalidOperationException($"Reservation failed: {reservation.Code}");
        var generation = new GenerationRecord(Guid.CreateVersion7().ToString("N"), userId, "bench", 1, "Null", 1, 1, 0, DateTime.UtcNow);
        if (!await ledger.CompleteAsync(reservation.Usage!.Id, generation))
            throw new InvalidOperationException("Completion failed");
    }

    private const string RawInsertSql = "INSERT INTO bench_raw (id, state, updated_at) VALUES (@id, 'reserved', @now);";
    private const string RawUpdateSql = "UPDATE bench_raw SET state = 'succeeded', updated_at = @now WHERE id = @id;";

    private static async Task RawPairAsync(Db db)
    {
        var id = Guid.NewGuid().ToString("N");
        await using (var unit = await db.BeginWriteAsync())
        {
            await unit.Connection.ExecuteAsync(RawInsertSql, new { id, now = DateTime.UtcNow }, unit.Transaction);
            await unit.CommitAsync();
        }
        await using (var unit = await db.BeginWriteAsync())
        {
            await unit.Connection.ExecuteAsync(RawUpdateSql, new { id, now = DateTime.UtcNow }, unit.Transaction);
            await unit.CommitAsync();
        }
    }

    private static async Task<double> MeasureAsync(int seconds, int concurrency, Func<Task> operation)
    {
        long count = 0;
        var watch = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (watch.Elapsed < until)
            {
                await operation();
                Interlocked.Increment(ref count);
            }
        })));
        return count / watch.Elapsed.TotalSeconds;
    }

    private static async Task<string> CreateUserAsync(Db db)
    {
        var id = Guid.NewGuid().ToString();
        await using var connection = await db.OpenAsync();
        await connection.ExecuteAsync("""
            INSERT INTO AspNetUsers (Id, UserName, NormalizedUserName, Email, NormalizedEmail, EmailConfirmed, PhoneNumberConfirmed, TwoFactorEnabled, LockoutEnabled, AccessFailedCount)
            VALUES (@id, 'bench@example.com', 'BENCH@EXAMPLE.COM', 'bench@example.com', 'BENCH@EXAMPLE.COM', 1, 0, 0, 0, 0)
            """, new { id });
        return id;
    }
}
