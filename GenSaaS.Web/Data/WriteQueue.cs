using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Data;

/// <summary>
/// Group commit for the hot write path. Work items queue up and one loop runs them on one connection:
/// it opens a <c>BEGIN IMMEDIATE</c> transaction, runs every item waiting at that moment, each inside its
/// own savepoint (a failing item rolls back alone), commits once, and only then hands each caller its result.
/// Items run one after another, so each sees exactly the state the items before it left: the same
/// guarantees as one transaction per item, with one commit's page writes shared by the whole batch.
/// </summary>
internal sealed class WriteQueue : IAsyncDisposable
{
    private const int MaxBatch = 128;

    private readonly Func<CancellationToken, Task<SqliteConnection>> _open;
    private readonly Channel<WorkItem> _items = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    public WriteQueue(Func<CancellationToken, Task<SqliteConnection>> open)
    {
        _open = open;
        _loop = Task.Factory.StartNew(RunAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    public Task<T> EnqueueAsync<T>(Func<SqliteConnection, SqliteTransaction, Task<T>> work, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var item = new WorkItem<T>(work, ct);
        if (!_items.Writer.TryWrite(item))
            throw new ObjectDisposedException(nameof(WriteQueue));
        return item.Result;
    }

    private async Task RunAsync()
    {
        SqliteConnection? connection = null;
        var batch = new List<WorkItem>(MaxBatch);
        try
        {
            while (await _items.Reader.WaitToReadAsync())
            {
                connection ??= await _open(CancellationToken.None);
                batch.Clear();
                try
                {
                    await using var tx = connection.BeginTransaction();
                    while (batch.Count < MaxBatch && _items.Reader.TryRead(out var item))
                    {
                        if (item.IsCanceled)
                            continue;
                        connection.Prepared(tx, "SAVEPOINT item").ExecuteNonQuery();
                        try
                        {
                            await item.RunAsync(connection, tx);
                            connection.Prepared(tx, "RELEASE item").ExecuteNonQuery();
                            batch.Add(item);
                        }
                        catch (Exception ex)
                        {
                            // Answer the caller first: if undoing the item fails too, the whole batch is abandoned below.
                            item.Fail(ex);
                            connection.Prepared(tx, "ROLLBACK TO item").ExecuteNonQuery();
                            connection.Prepared(tx, "RELEASE item").ExecuteNonQuery();
                        }
                    }
                    await tx.CommitAsync();
                }
                catch (Exception ex)
                {
                    // The commit itself failed: nothing of this batch happened.
                    foreach (var item in batch)
                        item.Fail(ex);
                    batch.Clear();
                    await connection.DisposeAsync();
                    connection = null;
                }

                foreach (var item in batch)
                    item.Publish();
            }
        }
        finally
        {
            if (connection is not null)
                await connection.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _items.Writer.TryComplete();
        await _loop;
    }

    private abstract class WorkItem
    {
        public abstract bool IsCanceled { get; }

        public abstract Task RunAsync(SqliteConnection connection, SqliteTransaction tx);

        public abstract void Fail(Exception ex);

        public abstract void Publish();
    }

    private sealed class WorkItem<T>(Func<SqliteConnection, SqliteTransaction, Task<T>> work, CancellationToken ct) : WorkItem
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

        public override async Task RunAsync(SqliteConnection connection, SqliteTransaction tx) => _staged = await work(connection, tx);

        public override void Fail(Exception ex) => _result.TrySetException(ex);

        public override void Publish() => _result.TrySetResult(_staged!);
    }
}
