using Dapper;
using GenSaaS.Web.Data;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Tests.Data;

public sealed class WriteQueueTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gensaas-tests", Guid.NewGuid().ToString("N"));
    private Db _db = null!;

    public async Task InitializeAsync()
    {
        _db = new Db(new AppPaths(_dir));
        Migrator.Migrate(_db, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        await using var connection = await _db.OpenAsync();
        await connection.ExecuteAsync("CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL CHECK (n >= 0))");
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task AFailingWrite_IsUndoneAlone_AndTheOthersInItsBatchCommit()
    {
        var writes = Enumerable.Range(0, 200).Select(i => _db.WriteAsync((connection, tx) =>
        {
            connection.Execute("INSERT INTO items (id, n) VALUES (@i, @i)", new { i }, tx);
            if (i % 50 == 7)
                connection.Execute("UPDATE items SET n = -1 WHERE id = @i", new { i }, tx);
            return i;
        })).ToList();

        foreach (var (write, i) in writes.Select((w, i) => (w, i)))
        {
            if (i % 50 == 7)
                (await Should.ThrowAsync<SqliteException>(write)).Message.ShouldContain("CHECK");
            else
                (await write).ShouldBe(i);
        }

        await using var connection = await _db.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM items")).ShouldBe(196);
        (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM items WHERE id % 50 = 7")).ShouldBe(0);
    }

    [Fact]
    public async Task AWriteThatFailsPartWay_LeavesNothing_AndTheWritesBeforeItInItsBatchHappenOnce()
    {
        await _db.ExecuteAsync("INSERT INTO items (id, n) VALUES (1, 0)", null);
        using var gate = new ManualResetEventSlim();
        // The first write holds the loop until the others are queued behind it, so they all share one batch.
        var holder = _db.WriteAsync((_, _) => gate.Wait(TimeSpan.FromSeconds(10)));
        var writes = Enumerable.Range(1, 30).Select(i => _db.WriteAsync((connection, tx) =>
        {
            var n = connection.ExecuteScalar<long>("SELECT n FROM items WHERE id = 1", transaction: tx);
            connection.Execute("UPDATE items SET n = @n WHERE id = 1", new { n = n + 1 }, tx);
            if (i % 10 == 0) // fails after its update has been made
                connection.Execute("INSERT INTO items (id, n) VALUES (@id, -1)", new { id = 100 + i }, tx);
            return n + 1;
        })).ToList();
        gate.Set();
        (await holder).ShouldBeTrue();

        var seen = new List<long>();
        foreach (var (write, i) in writes.Select((w, i) => (w, i + 1)))
        {
            if (i % 10 == 0)
                (await Should.ThrowAsync<SqliteException>(write)).Message.ShouldContain("CHECK");
            else
                seen.Add(await write);
        }

        // Each successful write saw exactly the ones before it: the counts 1..27, in order, none twice.
        seen.ShouldBe(Enumerable.Range(1, 27).Select(n => (long)n));
        await using var connection = await _db.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("SELECT n FROM items WHERE id = 1")).ShouldBe(27);
        (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM items")).ShouldBe(1);
    }

    [Fact]
    public async Task EachWriteSeesTheOnesBeforeIt_SoAReadThenWriteNeverLosesAnUpdate()
    {
        await _db.ExecuteAsync("INSERT INTO items (id, n) VALUES (1, 0)", null);
        await Task.WhenAll(Enumerable.Range(0, 500).Select(_ => _db.WriteAsync((connection, tx) =>
        {
            var n = connection.ExecuteScalar<long>("SELECT n FROM items WHERE id = 1", transaction: tx);
            return connection.Execute("UPDATE items SET n = @n WHERE id = 1", new { n = n + 1 }, tx);
        })));

        await using var connection = await _db.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("SELECT n FROM items WHERE id = 1")).ShouldBe(500);
    }

    [Fact]
    public async Task UnderASteadyStreamOfWrites_TheLogStartsAgainFromItsBeginning()
    {
        await _db.ExecuteAsync("INSERT INTO items (id, n) VALUES (0, 0)", null);
        var firstSalt = WalSalt();
        var sawRestart = false;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        var next = 0;
        long largestWal = 0;

        // Eight writers that never pause, as at full load. Without checkpoints the log grows for as long as the writes go on.
        var writers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (!Volatile.Read(ref sawRestart) && DateTime.UtcNow < deadline)
            {
                var id = Interlocked.Increment(ref next);
                await _db.ExecuteAsync("INSERT INTO items (id, n) VALUES (@id, length(randomblob(600)))", new { id });
            }
        })).ToList();
        while (!sawRestart && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
            largestWal = Math.Max(largestWal, new FileInfo(_db.WalFile).Length);
            if (WalSalt() != firstSalt)
                Volatile.Write(ref sawRestart, true);
        }
        await Task.WhenAll(writers);

        sawRestart.ShouldBeTrue($"the log never started again in 20 s of writes ({next} rows, WAL up to {largestWal / 1024} KB)");
        await using var connection = await _db.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM items")).ShouldBe(next + 1);
    }

    /// <summary>The WAL header's first salt: SQLite changes it each time the log starts again from its beginning.</summary>
    private uint WalSalt()
    {
        using var wal = new FileStream(_db.WalFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var header = new byte[32];
        wal.ReadExactly(header);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16, 4));
    }
}
