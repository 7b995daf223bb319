using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Data;

/// <summary>
/// Group commit for the hot write path. Work items queue up and one loop, on a thread of its own, runs them on one connection:
/// it opens a <c>BEGIN IMMEDIATE</c> transaction, runs every item waiting at that moment, commits once, and only then
/// hands each caller its result. A failing item is undone alone: the transaction is rolled back and the items before it
/// are run again (see <see cref="RunBatch"/>). Items run one after another, so each sees exactly the state the items
/// before it left: the same guarantees as one transaction per item, with one commit's page writes shared by the whole batch.
/// </summary>
internal sealed class WriteQueue : IAsyncDisposable
{
    /// <summary>The most items one transaction runs, so that a long queue still commits (and answers) in steps.</summary>
    public const int MaxBatch = 128;

    private readonly Func<SqliteConnection> _open;
    private readonly Action<SqliteConnection> _betweenBatches;
    private readonly BlockingCollection<WorkItem> _items = new(new ConcurrentQueue<WorkItem>());
    private readonly TaskCompletionSource _loopStopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="open">Opens the loop's connection (again, after a failure), on the loop's thread.</param>
    /// <param name="betweenBatches">Runs on the loop's connection after each batch is answered, with no transaction open
    /// (the <see cref="Checkpointer"/> finishes a long log there).</param>
    public WriteQueue(Func<SqliteConnection> open, Action<SqliteConnection> betweenBatches)
    {
        _open = open;
        _betweenBatches = betweenBatches;
        // A thread of its own, not the thread pool: every write waits for this loop, so it must wake as soon as work
        // arrives instead of queueing behind the requests in the pool. The callers' continuations run on the pool.
        new Thread(Run) { IsBackground = true, Name = "GenSaaS write queue" }.Start();
    }

    /// <summary>Items waiting for the loop right now.</summary>
    public int Depth => _items.Count;

    /// <summary>Transactions committed since start; with <see cref="CommittedItems"/>, the mean batch size.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Items whose work those transactions committed.</summary>
    public long CommittedItems => Interlocked.Read(ref _committedItems);

    private long _batches;
    private long _committedItems;

    public Task<T> EnqueueAsync<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var item = new WorkItem<T>(work, ct);
        try
        {
            _items.Add(item, CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            throw new ObjectDisposedException(nameof(WriteQueue));
        }
        return item.Result;
    }

    private void Run()
    {
        SqliteConnection? connection = null;
        var batch = new List<WorkItem>(MaxBatch);
        try
        {
            while (_items.TryTake(out var first, Timeout.Infinite))
            {
                try
                {
                    connection ??= _open();
                }
                catch (Exception ex)
                {
                    // The database cannot be opened: this caller hears why, and the next item tries again.
                    first.Fail(ex);
                    continue;
                }
                batch.Clear();
                try
                {
                    RunBatch(connection, first, batch);
                }
                catch (Exception ex)
                {
                    // The commit, or undoing a failed item, failed: nothing of this batch happened.
                    foreach (var item in batch)
                        item.Fail(ex);
                    batch.Clear();
                    connection.Dispose();
                    connection = null;
                }

                if (batch.Count > 0)
                {
                    Interlocked.Increment(ref _batches);
                    Interlocked.Add(ref _committedItems, batch.Count);
                }
                foreach (var item in batch)
                    item.Publish();

                if (connection is not null)
                    _betweenBatches(connection);
            }
        }
        finally
        {
            connection?.Dispose();
            _loopStopped.TrySetResult();
        }
    }

    /// <summary>
    /// Runs <paramref name="first"/> and whatever else is waiting in one transaction and commits it; <paramref name="batch"/>
    /// ends up holding the items whose results the commit made true. Items run without savepoints: a savepoint per item
    /// costs four statements per generation and a copy of every page it touches. An item that fails is answered with its
    /// error, the transaction is rolled back and the items before it are run again, in the same order, in a new one, so
    /// the failed item's writes are gone and the others' happen once.
    /// </summary>
    private void RunBatch(SqliteConnection connection, WorkItem first, List<WorkItem> batch)
    {
        var tx = connection.BeginTransaction();
        try
        {
            for (var item = first; item is not null; item = Next(batch))
            {
                if (item.IsCanceled)
                    continue;
                var error = item.TryRun(connection, tx);
                if (error is null)
                {
                    batch.Add(item);
                    continue;
                }
                item.Fail(error);
                tx = Replay(connection, tx, batch);
            }
            tx.Commit();
        }
        finally
        {
            tx.Dispose();
        }
    }

    /// <summary>The next item waiting, if the batch has room for it; null ends the batch.</summary>
    private WorkItem? Next(List<WorkItem> batch)
    {
        if (batch.Count >= MaxBatch)
            return null;
        // Not `out var` inside a condition: mutation testing could not compile its variants.
        WorkItem? next = null;
        _items.TryTake(out next);
        return next;
    }

    /// <summary>
    /// Rolls the transaction back and runs the items that had succeeded in it again in a new one. One that fails this time
    /// (its work read what a failed item had written) is answered and dropped, and the rest are run again once more.
    /// </summary>
    private static SqliteTransaction Replay(SqliteConnection connection, SqliteTransaction tx, List<WorkItem> batch)
    {
        while (true)
        {
            tx.Rollback();
            tx.Dispose();
            tx = connection.BeginTransaction();
            var failed = -1;
            for (var i = 0; i < batch.Count && failed < 0; i++)
            {
                var error = batch[i].TryRun(connection, tx);
                if (error is not null)
                {
                    batch[i].Fail(error);
                    failed = i;
                }
            }
            if (failed < 0)
                return tx;
            batch.RemoveAt(failed);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _items.CompleteAdding();
        await _loopStopped.Task;
        _items.Dispose();
    }

    private abstract class WorkItem
    {
        public abstract bool IsCanceled { get; }

        /// <summary>
        /// Runs the work on the loop's thread and keeps its result for <see cref="Publish"/>; null, or the error it failed
        /// with. A replay runs it again.
        /// </summary>
        public abstract Exception? TryRun(SqliteConnection connection, SqliteTransaction tx);

        public abstract void Fail(Exception ex);

        public abstract void Publish();
    }

    private sealed class WorkItem<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken ct) : WorkItem
    {
        private readonly TaskCompletionSource<T> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _staged;

        public Task<T> Result => _result.Task;

        public override bool IsCanceled
        {
            get
            {
                if (!ct.IsCancellationRequested)
                    return false;
                _result.TrySetCanceled(ct);
                return true;
            }
        }

        public override Exception? TryRun(SqliteConnection connection, SqliteTransaction tx)
        {
            try
            {
                _staged = work(connection, tx);
                return null;
            }
            catch (Exception ex)
            {
                return ex;
            }
        }

        public override void Fail(Exception ex) => _result.TrySetException(ex);

        public override void Publish() => _result.TrySetResult(_staged!);
    }
}
