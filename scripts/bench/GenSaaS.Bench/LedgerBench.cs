using GenSaaS.Web.Features.Plans;
using System.Diagnostics;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Generation;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace GenSaaS.Bench;

/// <summary>
/// Ledger throughput in process: reserve+complete pairs per second against the raw rate of the same writes as two
/// plain BEGIN IMMEDIATE transactions on the same file with the same connection settings, and, for reference,
/// against the smallest possible pair (one insert, one update).
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
            var ledger = new CreditLedger(db, new CustomerFacts(), plans, Options.Create(new CreditsOptions { TrialCredits = 0 }), TimeProvider.System, NullLogger<CreditLedger>.Instance);
            await ledger.GrantAsync(userId, CreditBucket.Prepaid, 100_000_000, "benchmark", "bench", "bench");

            await using (var connection = await db.OpenAsync())
                await connection.ExecuteAsync("CREATE TABLE bench_raw (id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL)");

            // Warm both paths so JIT and page cache are out of the figures.
            await MeasureAsync(2, concurrency, () => LedgerPairAsync(db, ledger, userId));
            await MeasureAsync(2, concurrency, () => RawPairAsync(db));

            await MeasureAsync(2, concurrency, () => SameWritesPairAsync(db, userId));
            var raw = await MeasureAsync(seconds, concurrency, () => SameWritesPairAsync(db, userId));
            var minimal = await MeasureAsync(seconds, concurrency, () => RawPairAsync(db));
            var pairs = await MeasureAsync(seconds, concurrency, () => LedgerPairAsync(db, ledger, userId));
            Console.WriteLine($"raw_pairs_per_s={raw:F0}");
            Console.WriteLine($"minimal_pairs_per_s={minimal:F0}");
            Console.WriteLine($"ledger_pairs_per_s={pairs:F0}");
            Console.WriteLine($"ledger_over_raw={pairs / raw:F2}");
            Console.WriteLine($"ledger_over_minimal={pairs / minimal:F2}");
            return 0;
        }
        finally
        {
            _rawConnection?.Dispose();
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task LedgerPairAsync(Db db, CreditLedger ledger, string userId)
    {
        var key = Guid.NewGuid().ToString("N");
        var reservation = await ledger.ReserveAsync(userId, key, "bench");
        if (reservation.Status != ReserveStatus.Reserved)
            throw new InvalidOperationException($"Reservation failed: {reservation.Denial?.Reason}");
        var generation = new GenerationRecord(Guid.CreateVersion7().ToString("N"), userId, "bench", 1, "Null", 1, 1, 0, DateTime.UtcNow);
        // The generation's completion as the generation feature writes it: the usage and the generation in one transaction.
        var completed = await db.WriteAsync((connection, tx) =>
        {
            if (!ledger.Complete(connection, tx, reservation.Usage!.Id, generation.Id))
                return false;
            GenerationStore.Insert(connection, tx, generation);
            ImageStore.Record(connection, tx, generation.Id, StoredImage.None);
            return true;
        });
        if (!completed)
            throw new InvalidOperationException("Completion failed");
    }

    private const string RawInsertSql = "INSERT INTO bench_raw (id, state, updated_at) VALUES (@id, 'reserved', @now);";
    private const string RawUpdateSql = "UPDATE bench_raw SET state = 'succeeded', updated_at = @now WHERE id = @id;";

    private static Task RawPairAsync(Db db) => PlainTransactionsAsync(db, "", RawInsertSql, RawUpdateSql);

    private const string SameReserveSql = """
        INSERT INTO usage (id, user_id, idempotency_key, request_hash, state, funding_source, units, period_key, created_at, updated_at)
        VALUES (@id, @userId, @id, 'bench', 'reserved', 'prepaid', 1, 'month:bench', @now, @now);
        INSERT INTO usage_counters (user_id, period_key, used) VALUES (@userId, 'month:bench', 1)
        ON CONFLICT (user_id, period_key) DO UPDATE SET used = used + 1;
        UPDATE credit_balances SET prepaid_balance = prepaid_balance - 1, updated_at = @now WHERE user_id = @userId;
        INSERT INTO credit_ledger (user_id, bucket, kind, amount, balance_after, reason, reference, actor, created_at)
        SELECT @userId, 'prepaid', 'debit', -1, prepaid_balance, 'Generation', @id, 'system', @now FROM credit_balances WHERE user_id = @userId;
        """;

    private const string SameCompleteSql = """
        UPDATE usage SET state = 'succeeded', generation_id = @id, updated_at = @now WHERE id = @id AND state = 'reserved';
        INSERT INTO generations (id, user_id, prompt, seed, backend, width, height, duration_ms, created_at)
        VALUES (@id, @userId, 'bench', 1, 'Null', 1, 1, 0, @now);
        """;

    /// <summary>
    /// The writes a reserve and a complete make, as plain SQL: two BEGIN IMMEDIATE transactions, prepared statements on one
    /// long-lived connection, one writer at a time. What the ledger adds on top is its checks, its reads and its queue.
    /// </summary>
    private static Task SameWritesPairAsync(Db db, string userId) => PlainTransactionsAsync(db, userId, SameReserveSql, SameCompleteSql);

    // The baselines at their fastest: one long-lived connection, statements prepared once, one writer at a time
    // (as SQLite allows), each statement list its own BEGIN IMMEDIATE transaction.
    private static readonly SemaphoreSlim _rawGate = new(1, 1);
    private static SqliteConnection? _rawConnection;

    private static async Task PlainTransactionsAsync(Db db, string userId, params string[] transactions)
    {
        var id = Guid.CreateVersion7().ToString("N");
        await _rawGate.WaitAsync();
        try
        {
            _rawConnection ??= await db.OpenAsync();
            foreach (var sql in transactions)
            {
                using var tx = _rawConnection.BeginTransaction();
                // Statements bind by name and refuse a name they do not take, so each gets only the ones it uses.
                (string, object?)[] all = [("@id", id), ("@userId", userId), ("@now", Db.FormatTime(DateTime.UtcNow))];
                _rawConnection.Prepared(tx, sql, all.Where(p => sql.Contains(p.Item1, StringComparison.Ordinal)).ToArray()).ExecuteNonQuery();
                tx.Commit();
            }
        }
        finally
        {
            _rawGate.Release();
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
