using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Data;

/// <summary>
/// Copies the WAL back into the database without holding up writers (PASSIVE), on a thread and a connection of its
/// own: the copy and its fsync, the slow part, happen beside the writes (the connections never checkpoint on commit,
/// see <see cref="Db"/>). Under a steady stream of writes the copy never catches up with the end of the log, and SQLite
/// starts the log again from its beginning only once a checkpoint has, so the log would grow without end and every
/// read would search a longer index. Once it is <see cref="RestartFrames"/> long, the write loop is asked to finish the
/// copy between two batches (<see cref="FinishIfAsked"/>).
/// </summary>
internal sealed class Checkpointer : IDisposable
{
    /// <summary>How often the background pass copies the WAL back into the database.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    /// <summary>A log this long (about 4 MB) is finished by the write loop so that it starts again from its beginning.</summary>
    public const long RestartFrames = 1000;

    private const string CheckpointSql = "PRAGMA wal_checkpoint(PASSIVE);";

    private readonly Func<SqliteConnection> _open;
    private readonly ManualResetEventSlim _stopping = new();
    private readonly Thread _thread;
    private int _finishAsked;

    public Checkpointer(Func<SqliteConnection> open)
    {
        _open = open;
        _thread = new Thread(Run) { IsBackground = true, Name = "GenSaaS checkpoints" };
        _thread.Start();
    }

    /// <summary>Whether the background pass found the log long enough to be finished by the write loop.</summary>
    public bool FinishAsked => Volatile.Read(ref _finishAsked) == 1;

    private void Run()
    {
        SqliteConnection? connection = null;
        try
        {
            while (!_stopping.Wait(Interval))
            {
                try
                {
                    connection ??= _open();
                    using var reader = connection.Prepared(null, CheckpointSql).ExecuteReader();
                    // One row: busy, frames in the log, frames copied to the database.
                    if (reader.Read() && reader.GetInt64(1) >= RestartFrames)
                        Volatile.Write(ref _finishAsked, 1);
                }
                catch (SqliteException)
                {
                    // Busy, or the database is not there yet: the next pass tries again.
                }
            }
        }
        finally
        {
            connection?.Dispose();
        }
    }

    /// <summary>
    /// Called by the write loop between two batches, on its connection. When asked, a PASSIVE checkpoint with no write in
    /// flight: only the frames written since the background pass are left, and with no writer in the way it reaches the
    /// end of the log, so the next write starts the log again from its beginning. Measured at full load: about 4 ms,
    /// under once a second. It never waits for readers: one still on an old part of the log leaves that part for the
    /// next pass.
    /// </summary>
    public void FinishIfAsked(SqliteConnection connection)
    {
        if (Interlocked.Exchange(ref _finishAsked, 0) == 0)
            return;
        try
        {
            connection.Prepared(null, CheckpointSql).ExecuteNonQuery();
        }
        catch (SqliteException)
        {
            // The background pass holds the checkpoint lock: it asks again once the log is still long.
        }
    }

    public void Dispose()
    {
        _stopping.Set();
        _thread.Join();
        _stopping.Dispose();
    }
}
