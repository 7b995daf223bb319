using Dapper;
using GenSaaS.Web.Data;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Tests.Data;

public sealed class PreparedSqlTests : IDisposable
{
    private const string InsertSql = "INSERT INTO pairs (a, b) VALUES (@a, @b)";

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gensaas-tests", Guid.NewGuid().ToString("N"));
    private readonly SqliteConnection _connection;

    public PreparedSqlTests()
    {
        Directory.CreateDirectory(_dir);
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir, "prepared.db"), Pooling = false }.ToString());
        _connection.Open();
        _connection.Execute("CREATE TABLE pairs (a INTEGER, b INTEGER)");
    }

    public void Dispose()
    {
        _connection.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private List<(long? A, long? B)> Pairs() =>
        _connection.Query<(long?, long?)>("SELECT a, b FROM pairs ORDER BY rowid").ToList();

    [Fact]
    public void ParametersGivenInAnotherOrderOnALaterCall_AreBoundByName()
    {
        _connection.Prepared(null, InsertSql, ("@a", 1), ("@b", 2)).ExecuteNonQuery();
        _connection.Prepared(null, InsertSql, ("@b", 4), ("@a", 3)).ExecuteNonQuery();

        Pairs().ShouldBe([(1, 2), (3, 4)]);
    }

    [Fact]
    public void ParametersGivenInAnotherOrderThanTheSqlOnTheFirstCall_AreBoundByName()
    {
        _connection.Prepared(null, InsertSql, ("@b", 2), ("@a", 1)).ExecuteNonQuery();
        _connection.Prepared(null, InsertSql, ("@a", 3), ("@b", 4)).ExecuteNonQuery();

        Pairs().ShouldBe([(1, 2), (3, 4)]);
    }

    [Fact]
    public void ALaterCall_ReusesTheCommandPreparedByTheFirst()
    {
        var first = _connection.Prepared(null, InsertSql, ("@a", 1), ("@b", 2));
        var second = _connection.Prepared(null, InsertSql, ("@b", 4), ("@a", 3));

        second.ShouldBeSameAs(first);
        second.Parameters.Count.ShouldBe(2);
    }

    [Fact]
    public void ANameTheSqlDoesNotUse_IsRefused_OnTheFirstCallAndOnLaterOnes()
    {
        Should.Throw<ArgumentException>(() => _connection.Prepared(null, InsertSql, ("@a", 1), ("@b", 2), ("@c", 3)))
            .Message.ShouldContain("\"@c\" is not a parameter");
        Should.Throw<ArgumentException>(() => _connection.Prepared(null, InsertSql, ("@a", 1), ("@c", 2)))
            .Message.ShouldContain("\"@c\" is not a parameter");
        Should.Throw<ArgumentException>(() => _connection.Prepared(null, InsertSql, ("a", 1), ("@b", 2)))
            .Message.ShouldContain("it takes @a, @b");

        Pairs().ShouldBeEmpty();
    }

    [Fact]
    public void AMissingName_IsRefused_InsteadOfKeepingTheValueOfTheCallBefore()
    {
        _connection.Prepared(null, InsertSql, ("@a", 1), ("@b", 2)).ExecuteNonQuery();

        Should.Throw<ArgumentException>(() => _connection.Prepared(null, InsertSql, ("@a", 3)))
            .Message.ShouldBe("No value given for @b: " + InsertSql + " (Parameter 'values')");
        Should.Throw<ArgumentException>(() => _connection.Prepared(null, InsertSql))
            .Message.ShouldStartWith("No value given for @a, @b:");
    }

    [Fact]
    public void ANameGivenTwice_IsRefused()
    {
        Should.Throw<ArgumentException>(() => _connection.Prepared(null, InsertSql, ("@a", 1), ("@a", 2)))
            .Message.ShouldStartWith("\"@a\" is given twice:");
    }

    [Fact]
    public void ANullValue_IsBoundAsNull()
    {
        _connection.Prepared(null, InsertSql, ("@a", 1), ("@b", 2)).ExecuteNonQuery();
        _connection.Prepared(null, InsertSql, ("@a", null), ("@b", 4)).ExecuteNonQuery();

        Pairs().ShouldBe([(1, 2), (null, 4)]);
    }

    [Fact]
    public void ANameUsedInSeveralPlacesAndStatements_IsGivenOnce()
    {
        const string sql = "INSERT INTO pairs (a, b) VALUES (@a, @a + @b); INSERT INTO pairs (a, b) VALUES (@b, @a);";
        _connection.Prepared(null, sql, ("@b", 10), ("@a", 1)).ExecuteNonQuery();

        Pairs().ShouldBe([(1, 11), (10, 1)]);
    }

    [Fact]
    public void AStatementWithoutParameters_TakesNone()
    {
        _connection.Prepared(null, "SELECT 42").ExecuteScalar().ShouldBe(42L);
        Should.Throw<ArgumentException>(() => _connection.Prepared(null, "SELECT 42", ("@a", 1)));
    }

    [Fact]
    public void APositionalParameter_IsRefused()
    {
        Should.Throw<ArgumentException>(() => _connection.Prepared(null, "INSERT INTO pairs (a, b) VALUES (?, ?)", ("@a", 1), ("@b", 2)))
            .Message.ShouldContain("bind by name only");
    }

    [Fact]
    public void TheCommandRunsInTheTransactionOfEachCall()
    {
        using (var tx = _connection.BeginTransaction())
        {
            _connection.Prepared(tx, InsertSql, ("@a", 1), ("@b", 2)).ExecuteNonQuery();
            tx.Rollback();
        }
        using (var tx = _connection.BeginTransaction())
        {
            _connection.Prepared(tx, InsertSql, ("@a", 3), ("@b", 4)).ExecuteNonQuery();
            tx.Commit();
        }
        _connection.Prepared(null, InsertSql, ("@a", 5), ("@b", 6)).ExecuteNonQuery();

        Pairs().ShouldBe([(3, 4), (5, 6)]);
    }
}
