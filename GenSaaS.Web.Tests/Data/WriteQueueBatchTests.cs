using Dapper;
using GenSaaS.Web.Data;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Tests.Data;

/// <summary>The write queue on its own, on a real SQLite file, with an opener and a between-batches step the test controls.</summary>
public sealed class WriteQueueBatchTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gensaas-tests", Guid.NewGuid().ToString("N"));
    private string _connectionString = null!;
    private WriteQueue _queue = null!;
    private int _opens;
    private readonly System.Collections.Concurrent.ConcurrentQueue<SqliteConnection> _opened = new();
    private int _batches;
    private bool _disposed;
    private Func<int, Exception?> _openFails = _ => null;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir, "queue.db"), Pooling = false }.ToString();
        await using var connection = Connect();
        await connection.ExecuteAsync("""
            CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL CHECK (n >= 0));
            CREATE TABLE parents (id INTEGER PRIMARY KEY);
            CREATE TABLE children (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED);
            """);
        _queue = new WriteQueue(Open, _ => Interlocked.Increment(ref _batches));
    }

    public async Task DisposeAsync()
    {
        if (!_disposed)
            await _queue.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private SqliteConnection Connect()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        connection.Execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;");
        return connection;
    }

    private SqliteConnection Open()
    {
        var attempt = Interlocked.Increment(ref _opens);
        if (_openFails(attempt) is { } error)
            throw error;
        var connection = Connect();
        _opened.Enqueue(connection);
        return connection;
    }

    private Task<T> Write<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken ct = default) => _queue.EnqueueAsync(work, ct);

    private Task<int> Insert(int id, int n = 0) =>
        Write((connection, tx) => connection.Execute("INSERT INTO items (id, n) VALUES (@id, @n)", new { id, n }, tx));

    private List<long> Ids()
    {
        using var connection = Connect();
        return connection.Query<long>("SELECT id FROM items ORDER BY id").ToList();
    }

    /// <summary>Holds the loop in a first item until released, so everything queued meanwhile shares the next batches.</summary>
    private (Task<bool> Holder, ManualResetEventSlim Gate) Hold()
    {
        var gate = new ManualResetEventSlim();
        var started = new ManualResetEventSlim();
        var holder = Write((_, _) => { started.Set(); return gate.Wait(TimeSpan.FromSeconds(10)); });
        started.Wait(TimeSpan.FromSeconds(10)).ShouldBeTrue();
        return (holder, gate);
    }

    [Fact]
    public async Task AWrite_ReturnsItsResultAfterTheCommit_AndTheStepBetweenBatchesRuns()
    {
        (await Insert(1)).ShouldBe(1);
        (await Write((connection, tx) => connection.ExecuteScalar<long>("SELECT count(*) FROM items", transaction: tx))).ShouldBe(1);

        Ids().ShouldBe([1]);
        Volatile.Read(ref _batches).ShouldBeGreaterThanOrEqualTo(2);
        _opens.ShouldBe(1);
    }

    [Fact]
    public async Task ALongQueue_IsRunInBatchesOfAtMostMaxBatch()
    {
        var (holder, gate) = Hold();
        var writes = Enumerable.Range(1, 2 * WriteQueue.MaxBatch + 45)
            .Select(_ => Write((_, _) => Volatile.Read(ref _batches))).ToList();
        var batchBefore = Volatile.Read(ref _batches);
        gate.Set();
        (await holder).ShouldBeTrue();

        var batchOf = await Task.WhenAll(writes);
        // The holder took the first place of its batch.
        batchOf.GroupBy(b => b).Select(g => g.Count()).ShouldBe([WriteQueue.MaxBatch - 1, WriteQueue.MaxBatch, 46]);
        batchOf.Distinct().ShouldBe([batchBefore, batchBefore + 1, batchBefore + 2]);
    }

    [Fact]
    public async Task AFailingOpen_IsAnsweredToThatCallerOnly_AndTheNextWriteOpensAgain()
    {
        _openFails = attempt => attempt == 1 ? new SqliteException("disk on fire", 10) : null;

        (await Should.ThrowAsync<SqliteException>(Insert(1))).Message.ShouldContain("disk on fire");
        (await Insert(2)).ShouldBe(1);
        (await Insert(3)).ShouldBe(1);

        Ids().ShouldBe([2, 3]);
        _opens.ShouldBe(2);
    }

    [Fact]
    public async Task AWriteCancelledWhileItWaits_NeverRuns()
    {
        var (holder, gate) = Hold();
        using var cts = new CancellationTokenSource();
        var ran = false;
        var cancelled = Write((connection, tx) => { ran = true; return connection.Execute("INSERT INTO items (id, n) VALUES (1, 0)", transaction: tx); }, cts.Token);
        var after = Insert(2);
        cts.Cancel();
        gate.Set();
        await holder;

        (await Should.ThrowAsync<TaskCanceledException>(cancelled)).CancellationToken.ShouldBe(cts.Token);
        (await after).ShouldBe(1);
        ran.ShouldBeFalse();
        Ids().ShouldBe([2]);
    }

    [Fact]
    public async Task AWriteCancelledAfterItRan_IsCommittedAndAnswered()
    {
        using var cts = new CancellationTokenSource();
        var result = await Write((connection, tx) =>
        {
            var rows = connection.Execute("INSERT INTO items (id, n) VALUES (1, 0)", transaction: tx);
            cts.Cancel();
            return rows;
        }, cts.Token);

        result.ShouldBe(1);
        Ids().ShouldBe([1]);
    }

    [Fact]
    public void AWriteWhoseTokenIsAlreadyCancelled_IsRefusedAtOnce_WithoutBeingQueued()
    {
        var ran = false;
        Task<bool>? queued = null;
        var refused = false;
        try
        {
            queued = Write((_, _) => ran = true, new CancellationToken(canceled: true));
        }
        catch (OperationCanceledException)
        {
            refused = true;
        }

        refused.ShouldBeTrue();
        queued.ShouldBeNull();
        ran.ShouldBeFalse();
    }

    [Fact]
    public async Task AnItemThatFailsOnlyWhenReplayed_IsAnsweredWithThatError_AndTheOthersCommitOnce()
    {
        var (holder, gate) = Hold();
        var runsOfFlaky = 0;
        var runsOfFirst = 0;
        var first = Write((connection, tx) => { runsOfFirst++; return connection.Execute("INSERT INTO items (id, n) VALUES (1, 0)", transaction: tx); });
        var flaky = Write((connection, tx) =>
        {
            connection.Execute("INSERT INTO items (id, n) VALUES (2, 0)", transaction: tx);
            return ++runsOfFlaky == 1 ? 1 : throw new InvalidOperationException("different the second time");
        });
        var middle = Insert(3);
        var failing = Insert(4, n: -1);
        var last = Insert(5);
        gate.Set();
        await holder;

        (await first).ShouldBe(1);
        (await Should.ThrowAsync<InvalidOperationException>(flaky)).Message.ShouldBe("different the second time");
        (await middle).ShouldBe(1);
        (await Should.ThrowAsync<SqliteException>(failing)).Message.ShouldContain("CHECK");
        (await last).ShouldBe(1);
        Ids().ShouldBe([1, 3, 5]);
        runsOfFlaky.ShouldBe(2);
        runsOfFirst.ShouldBe(3); // first run, the replay that dropped the flaky item, the replay without it
    }

    [Fact]
    public async Task TheFirstItemOfABatch_FailingOnlyWhenReplayed_IsDropped_AndLeavesNoRow()
    {
        using var gate = new ManualResetEventSlim();
        using var started = new ManualResetEventSlim();
        var runsOfFirst = 0;
        // The first item of the batch holds the loop until the others are queued, and fails when it is run again.
        var first = Write((connection, tx) =>
        {
            connection.Execute("INSERT INTO items (id, n) VALUES (10, 0)", transaction: tx);
            if (++runsOfFirst > 1)
            {
                connection.Execute("INSERT INTO items (id, n) VALUES (11, 0)", transaction: tx);
                throw new InvalidOperationException("fails when replayed");
            }
            started.Set();
            return gate.Wait(TimeSpan.FromSeconds(10));
        });
        started.Wait(TimeSpan.FromSeconds(10)).ShouldBeTrue();
        // The next item refuses to run beside the failed item's row: the replay must not run it until that row is rolled back.
        var before = Write((connection, tx) =>
        {
            if (connection.ExecuteScalar<long>("SELECT count(*) FROM items WHERE id = 11", transaction: tx) > 0)
                throw new InvalidOperationException("ran beside a failed item's writes");
            return connection.Execute("INSERT INTO items (id, n) VALUES (1, 0)", transaction: tx);
        });
        var failing = Insert(2, n: -1);
        var after = Insert(3);
        gate.Set();

        (await Should.ThrowAsync<InvalidOperationException>(first)).Message.ShouldBe("fails when replayed");
        (await before).ShouldBe(1);
        (await Should.ThrowAsync<SqliteException>(failing)).Message.ShouldContain("CHECK");
        (await after).ShouldBe(1);
        Ids().ShouldBe([1, 3]);
        runsOfFirst.ShouldBe(2);
    }

    [Fact]
    public async Task ACommitThatFails_FailsTheWholeBatch_AndTheNextWriteUsesANewConnection()
    {
        var (holder, gate) = Hold();
        var before = Insert(1);
        var orphan = Write((connection, tx) => connection.Execute("INSERT INTO children (id, parent) VALUES (1, 99)", transaction: tx));
        var after = Insert(2);
        gate.Set();

        (await Should.ThrowAsync<SqliteException>(holder)).Message.ShouldContain("FOREIGN KEY");
        (await Should.ThrowAsync<SqliteException>(before)).Message.ShouldContain("FOREIGN KEY");
        (await Should.ThrowAsync<SqliteException>(orphan)).Message.ShouldContain("FOREIGN KEY");
        (await Should.ThrowAsync<SqliteException>(after)).Message.ShouldContain("FOREIGN KEY");
        var batchesSoFar = Volatile.Read(ref _batches);

        (await Insert(3)).ShouldBe(1);
        Ids().ShouldBe([3]);
        _opens.ShouldBe(2);
        _opened.First().State.ShouldBe(System.Data.ConnectionState.Closed);
        _opened.Last().State.ShouldBe(System.Data.ConnectionState.Open);
        // No step between batches on a connection that was thrown away.
        Volatile.Read(ref _batches).ShouldBe(batchesSoFar + 1);
    }

    [Fact]
    public async Task Disposing_LetsTheQueuedWritesFinish_AndRefusesNewOnes()
    {
        var (holder, gate) = Hold();
        var queued = Enumerable.Range(1, 10).Select(i => Insert(i)).ToList();
        var disposing = _queue.DisposeAsync().AsTask();
        _disposed = true;
        disposing.IsCompleted.ShouldBeFalse();
        gate.Set();
        await disposing;

        (await holder).ShouldBeTrue();
        (await Task.WhenAll(queued)).ShouldAllBe(rows => rows == 1);
        Ids().Count.ShouldBe(10);
        _opened.ShouldAllBe(connection => connection.State == System.Data.ConnectionState.Closed);
        await Should.ThrowAsync<ObjectDisposedException>(() => Insert(11));
    }

    [Fact]
    public async Task AWriteQueuedAfterDisposeStarted_IsRefused()
    {
        var (holder, gate) = Hold();
        var disposing = _queue.DisposeAsync().AsTask();
        _disposed = true;

        Should.Throw<ObjectDisposedException>(() => Insert(1));
        gate.Set();
        await disposing;
        (await holder).ShouldBeTrue();
    }
}
