using DbUp;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Data;

/// <summary>Applies the numbered SQL scripts in Data/Migrations once each, journaled by DbUp.</summary>
public static class Migrator
{
    public static void Migrate(Db db, ILogger logger)
    {
        using (var connection = new SqliteConnection(db.ConnectionString))
        {
            connection.Open();
            using var wal = connection.CreateCommand();
            wal.CommandText = "PRAGMA journal_mode = WAL;";
            wal.ExecuteNonQuery();
        }

        var upgrade = DeployChanges.To
            .SqliteDatabase(db.ConnectionString)
            .WithScriptsEmbeddedInAssembly(typeof(Migrator).Assembly, name => name.Contains(".Data.Migrations.", StringComparison.Ordinal))
            .WithTransactionPerScript()
            .LogToNowhere()
            .Build()
            .PerformUpgrade();

        if (!upgrade.Successful)
            throw new InvalidOperationException($"Migration {upgrade.ErrorScript?.Name} failed", upgrade.Error);
        foreach (var script in upgrade.Scripts)
            logger.LogInformation("Applied migration {Script}", script.Name);
    }
}
