using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using System.Data.Common;

namespace GenSaaS.Web.Data;

public static class DataSetup
{
    public static WebApplicationBuilder AddData(this WebApplicationBuilder builder)
    {
        var paths = AppPaths.FromConfiguration(builder.Configuration, builder.Environment.ContentRootPath);
        builder.Services.AddOptions<AppOptions>().BindConfiguration("App").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(paths);
        builder.Services.AddSingleton<Db>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddDbContext<AppDbContext>((sp, options) => options
            .UseSqlite(sp.GetRequiredService<Db>().ConnectionString)
            .AddInterceptors(new PragmaInterceptor()));
        return builder;
    }

    /// <summary>Brings the schema up to date before anything else touches the database.</summary>
    public static WebApplication UseData(this WebApplication app)
    {
        Migrator.Migrate(app.Services.GetRequiredService<Db>(), app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("GenSaaS.Migrations"));
        return app;
    }

    /// <summary>EF Core opens its own connections; they get the same busy timeout as Dapper's.</summary>
    private sealed class PragmaInterceptor : DbConnectionInterceptor
    {
        public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
        {
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";
            command.ExecuteNonQuery();
        }

        public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}
