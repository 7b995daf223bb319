using System.Data;
using Dapper;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Data;

/// <summary>
/// Opens connections to the app database, each set up the same way, and owns its write path: every write of ours goes
/// through <see cref="WriteAsync{T}"/> (the <see cref="WriteQueue"/>), with the <see cref="Checkpointer"/> beside it.
/// Outside the queue, on purpose: DbUp's migrations at start (<see cref="Migrator"/>) and Identity's EF Core store
/// (<see cref="AppDbContext"/>), whose short transactions wait for the queue's through <c>busy_timeout</c>. Hangfire,
/// the Data Protection keys and the Stripe emulator keep files of their own. docs/data.md has the list and why.
/// Connections opened here are for reads; a write on one would bypass the queue.
/// </summary>
public sealed class Db : IAsyncDisposable
{
    // Checkpoints (copying the WAL back into the database, with an fsync) are never taken on commit
    // (wal_autocheckpoint = 0): the Checkpointer's thread takes them beside the writes.
    // synchronous=NORMAL in WAL mode survives an application crash; only a power loss can drop the last commits.
    // Stripe stays the record of money and the webhooks replay, so the 3-4x write rate is worth it.
    // journal_size_limit: a log that once grew long is cut back to 64 MB when it starts again.
    private const string ConnectionPragmas = """
        PRAGMA busy_timeout = 5000;
        PRAGMA synchronous = NORMAL;
        PRAGMA foreign_keys = ON;
        PRAGMA wal_autocheckpoint = 0;
        PRAGMA journal_size_limit = 67108864;
        """;

    static Db()
    {
        ConfigureSqlite();
        SqlMapper.RemoveTypeMap(typeof(DateTime));
        SqlMapper.RemoveTypeMap(typeof(DateTime?));
        SqlMapper.AddTypeHandler(new UtcDateTimeHandler());
    }

    /// <summary>
    /// Process-wide SQLite settings, which take effect only before the first connection opens (<see cref="Db"/>'s
    /// first use, and the top of Program). Memory statistics off: with them on, every allocation SQLite makes takes one
    /// global lock, shared by the write queue and every reader. Nothing here reads those statistics.
    /// </summary>
    public static void ConfigureSqlite()
    {
        SQLitePCL.Batteries_V2.Init();
        // SQLITE_MISUSE once SQLite is running: the setting stays as it was, which is only slower.
        SQLitePCL.raw.sqlite3_config(SQLitePCL.raw.SQLITE_CONFIG_MEMSTATUS, 0);
    }

    public Db(AppPaths paths) : this(paths.AppDb) { }

    public Db(string file)
    {
        ConnectionString = new SqliteConnectionStringBuilder { DataSource = file, Pooling = true, DefaultTimeout = 30 }.ToString();
        _checkpointer = new Checkpointer(Open);
        _queue = new WriteQueue(Open, _checkpointer.FinishIfAsked);
    }

    /// <summary>Lets the writes already queued finish, then stops the checkpoints (the write loop uses them to the end).</summary>
    public async ValueTask DisposeAsync()
    {
        await _queue.DisposeAsync();
        _checkpointer.Dispose();
        while (_readers.TryTake(out var connection))
            connection.Dispose();
    }

    private readonly WriteQueue _queue;

    /// <summary>The write queue's depth, and its committed transactions and items since start (for metrics).</summary>
    public (int Depth, long Batches, long Items) WriteQueueStats => (_queue.Depth, _queue.Batches, _queue.CommittedItems);
    private readonly Checkpointer _checkpointer;

    /// <summary>Read connections kept open between reads, so their prepared statements stay compiled.</summary>
    private readonly System.Collections.Concurrent.ConcurrentBag<SqliteConnection> _readers = [];

    private const int MaxIdleReaders = 16;

    /// <summary>
    /// Runs a read on one of a few connections kept open, so the statements it runs with <see cref="PreparedSql.Prepared"/>
    /// are compiled once per connection instead of once per call: for the reads every request makes (the API-key lookup).
    /// Compiling that join each time cost more than running it. The read must finish its statements (dispose its
    /// readers): a connection kept open in the middle of one would hold the log back from checkpoints.
    /// </summary>
    public async Task<T> ReadAsync<T>(Func<SqliteConnection, T> read, CancellationToken ct = default)
    {
        var connection = _readers.TryTake(out var kept) ? kept : await OpenAsync(ct);
        T result;
        try
        {
            result = read(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
        if (_readers.Count < MaxIdleReaders)
            _readers.Add(connection);
        else
            connection.Dispose();
        return result;
    }

    /// <summary>
    /// Runs <paramref name="work"/> inside a <c>BEGIN IMMEDIATE</c> transaction, committed together with the other
    /// writes queued at the same moment (group commit). The result is returned only after the commit. If the work
    /// throws, its writes are rolled back and the exception is rethrown here; the other work in the batch is unaffected.
    /// The work is synchronous on purpose: it runs on the queue's one thread, so it must only use the connection and
    /// transaction it is given and never wait for anything else (no HTTP, no other write): everyone else's writes wait
    /// behind it. A <c>Task</c>-returning delegate would invite exactly that <c>await</c>. It may run more than once (when a later item in
    /// its batch fails, the batch is rolled back and run again), so it must have no effect outside the database; only the
    /// result of the run that was committed is returned.
    /// </summary>
    public Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken ct = default) =>
        _queue.EnqueueAsync(work, ct);

    public string ConnectionString { get; }

    /// <summary>The write-ahead log beside the database file.</summary>
    public string WalFile => new SqliteConnectionStringBuilder(ConnectionString).DataSource + "-wal";

    /// <summary>One statement (or a few, in one command) as its own unit of work on the write queue; returns the rows changed.</summary>
    public Task<int> ExecuteAsync(string sql, object? args, CancellationToken ct = default) =>
        WriteAsync((connection, tx) => connection.Execute(sql, args, tx), ct);

    /// <summary>Like <see cref="ExecuteAsync"/>, returning the first column of the first row (e.g. from <c>RETURNING</c>).</summary>
    public Task<T?> ExecuteScalarAsync<T>(string sql, object? args, CancellationToken ct = default) =>
        WriteAsync((connection, tx) => connection.ExecuteScalar<T>(sql, args, tx), ct);

    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<SQLitePCL.sqlite3, object> _prepared = new();

    /// <summary>A new connection, set up like every other (see <see cref="ConnectionPragmas"/>).</summary>
    public async Task<SqliteConnection> OpenAsync(CancellationToken ct = default)
    {
        var connection = new SqliteConnection(ConnectionString);
        try
        {
            await connection.OpenAsync(ct);
            // The pool hands back the same native connection many times; its pragmas stay set, so set them once.
            if (!_prepared.TryGetValue(connection.Handle!, out _))
            {
                await using var command = connection.CreateCommand();
                command.CommandText = ConnectionPragmas;
                await command.ExecuteNonQueryAsync(ct);
                _prepared.AddOrUpdate(connection.Handle!, _prepared);
            }
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// <see cref="OpenAsync"/> for the threads of the write queue and the checkpointer, which have nothing else to do
    /// while they wait and must not block on a task.
    /// </summary>
    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(ConnectionString);
        try
        {
            connection.Open();
            if (!_prepared.TryGetValue(connection.Handle!, out _))
            {
                using var command = connection.CreateCommand();
                command.CommandText = ConnectionPragmas;
                command.ExecuteNonQuery();
                _prepared.AddOrUpdate(connection.Handle!, _prepared);
            }
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Times are stored as UTC text that sorts as it reads: <c>2026-11-25 04:03:31.1234567</c>.</summary>
    private sealed class UtcDateTimeHandler : SqlMapper.TypeHandler<DateTime>
    {
        public const string Format = "yyyy-MM-dd HH:mm:ss.fffffff";

        public override void SetValue(IDbDataParameter parameter, DateTime value)
        {
            parameter.DbType = DbType.String;
            parameter.Value = (value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : value).ToString(Format, System.Globalization.CultureInfo.InvariantCulture);
        }

        public override DateTime Parse(object value) => value switch
        {
            string s => ParseTime(s),
            DateTime d => DateTime.SpecifyKind(d, DateTimeKind.Utc),
            _ => throw new InvalidCastException($"Cannot read {value.GetType()} as a time"),
        };
    }

    public static DateTime ParseTime(string text) =>
        DateTime.SpecifyKind(DateTime.Parse(text, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal), DateTimeKind.Utc);

    public static string FormatTime(DateTime utc) => utc.ToString(UtcDateTimeHandler.Format, System.Globalization.CultureInfo.InvariantCulture);
}
