using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Data;

/// <summary>
/// Prepared statements kept on a long-lived connection (the write queue's), for the few statements every
/// generation runs. Measured on this stack: a Dapper call costs 60-80 µs of which ~5 µs is SQLite's work; the rest
/// is compiling the SQL again and binding through reflection. Everything off the hot path stays on Dapper.
/// </summary>
public static class PreparedSql
{
    private static readonly ConditionalWeakTable<SqliteConnection, Dictionary<string, Statement>> _cache = new();

    /// <summary>
    /// The connection's prepared command for <paramref name="sql"/>, bound to <paramref name="tx"/> with these values.
    /// Values are bound by name, in whatever order they are given; every parameter the SQL names must be given exactly
    /// once, and a name the SQL does not use is refused (<see cref="ArgumentException"/>) rather than ignored.
    /// </summary>
    public static SqliteCommand Prepared(this SqliteConnection connection, SqliteTransaction? tx, string sql, params ReadOnlySpan<(string Name, object? Value)> values)
    {
        var statements = _cache.GetOrCreateValue(connection);
        if (!statements.TryGetValue(sql, out var statement))
        {
            statement = Statement.Prepare(connection, tx, sql);
            statements[sql] = statement;
        }
        statement.Command.Transaction = tx;
        statement.Bind(values);
        return statement.Command;
    }

    public static string? GetNullableString(this SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static long? GetNullableInt64(this SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal);

    public static DateTime GetUtcDateTime(this SqliteDataReader reader, int ordinal) => Db.ParseTime(reader.GetString(ordinal));

    /// <summary>A compiled command and its parameters, one per name the SQL uses, in the order they first appear.</summary>
    private sealed class Statement
    {
        /// <summary>Which parameters a call has bound is kept in the bits of one <c>ulong</c>, so binding allocates nothing.</summary>
        private const int MaxParameters = 64;

        private readonly SqliteParameter[] _parameters;
        private readonly ulong _all;

        private Statement(SqliteCommand command, string[] names)
        {
            Command = command;
            _parameters = new SqliteParameter[names.Length];
            for (var i = 0; i < names.Length; i++)
                _parameters[i] = command.Parameters.Add(new SqliteParameter { ParameterName = names[i] });
            _all = names.Length == MaxParameters ? ulong.MaxValue : (1UL << names.Length) - 1;
        }

        public SqliteCommand Command { get; }

        public static Statement Prepare(SqliteConnection connection, SqliteTransaction? tx, string sql)
        {
            var command = connection.CreateCommand();
            try
            {
                command.CommandText = sql;
                command.Transaction = tx;
                command.Prepare();
                var names = ParameterNames(connection, sql);
                if (names.Length > MaxParameters)
                    throw new ArgumentException($"A prepared statement takes at most {MaxParameters} parameters; this one has {names.Length}: {sql}", nameof(sql));
                return new Statement(command, names);
            }
            catch
            {
                command.Dispose();
                throw;
            }
        }

        /// <summary>Sets every parameter from the value given under its name; each must be given exactly once.</summary>
        public void Bind(ReadOnlySpan<(string Name, object? Value)> values)
        {
            ulong bound = 0;
            foreach (var (name, value) in values)
            {
                var i = IndexOf(name);
                if (i < 0)
                    throw new ArgumentException($"\"{name}\" is not a parameter of this statement (it takes {NameList(_all)}): {Command.CommandText}", nameof(values));
                var bit = 1UL << i;
                if ((bound & bit) != 0)
                    throw new ArgumentException($"\"{name}\" is given twice: {Command.CommandText}", nameof(values));
                bound |= bit;
                _parameters[i].Value = value ?? DBNull.Value;
            }
            if (bound != _all)
                throw new ArgumentException($"No value given for {NameList(_all & ~bound)}: {Command.CommandText}", nameof(values));
        }

        /// <summary>A linear search: a statement has a handful of parameters, and comparing that few names beats hashing one.</summary>
        private int IndexOf(string name)
        {
            for (var i = 0; i < _parameters.Length; i++)
                if (string.Equals(_parameters[i].ParameterName, name, StringComparison.Ordinal))
                    return i;
            return -1;
        }

        private string NameList(ulong bits) =>
            string.Join(", ", _parameters.Where((_, i) => (bits & (1UL << i)) != 0).Select(p => p.ParameterName));

        /// <summary>
        /// The names SQLite found in the SQL, with their prefix (<c>@id</c>), each once. Asked of SQLite itself (compiling
        /// the SQL once more, only the first time a connection sees it) so that a name the caller gives and the SQL does
        /// not use is an error instead of a value silently left out.
        /// </summary>
        private static string[] ParameterNames(SqliteConnection connection, string sql)
        {
            var names = new List<string>();
            var rest = sql;
            while (!string.IsNullOrWhiteSpace(rest))
            {
                var rc = SQLitePCL.raw.sqlite3_prepare_v2(connection.Handle, rest, out var statement, out var tail);
                using (statement)
                {
                    SqliteException.ThrowExceptionForRC(rc, connection.Handle);
                    if (statement is null || statement.IsInvalid)
                        break;
                    var count = SQLitePCL.raw.sqlite3_bind_parameter_count(statement);
                    for (var i = 1; i <= count; i++)
                    {
                        var name = SQLitePCL.raw.sqlite3_bind_parameter_name(statement, i).utf8_to_string()
                            ?? throw new ArgumentException($"Parameter {i} has no name; prepared statements bind by name only: {sql}", nameof(sql));
                        if (!names.Contains(name))
                            names.Add(name);
                    }
                }
                rest = tail;
            }
            return [.. names];
        }
    }
}
