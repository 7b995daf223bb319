using GenSaaS.Web.Data;
using Hangfire.Dashboard;
using Prometheus;
using Hangfire;
using Hangfire.Storage.SQLite;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Serilog;
using Serilog.Events;

namespace GenSaaS.Web.Features.Operations;

public static class OperationsSetup
{
    /// <summary>Logging, background jobs, health checks and the operator CLI.</summary>
    public static WebApplicationBuilder AddOperations(this WebApplicationBuilder builder, bool cli)
    {
        var paths = AppPaths.FromConfiguration(builder.Configuration, builder.Environment.ContentRootPath);
        // The log folder is bounded: files roll daily and at this size, and only the newest RetainedFiles are kept.
        var logFileBytes = Math.Max(16 * 1024, builder.Configuration.GetValue<long>("Operations:Logs:FileSizeLimitBytes", 50L * 1024 * 1024));
        var logFiles = Math.Max(1, builder.Configuration.GetValue("Operations:Logs:RetainedFiles", 14));

        // Code sets the defaults; a Serilog section in configuration (e.g. Serilog__MinimumLevel__Default=Warning) overrides them.
        builder.Services.AddSerilog((services, log) => log
            .MinimumLevel.Is(cli ? LogEventLevel.Warning : LogEventLevel.Information)
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.EntityFrameworkCore", LogEventLevel.Warning)
            .MinimumLevel.Override("Hangfire", LogEventLevel.Warning)
            .ReadFrom.Configuration(builder.Configuration)
            .Enrich.FromLogContext()
            // An operator command's logs go to stderr, so its stdout is only its answer (e.g. `reconcile --json`).
            .WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}",
                standardErrorFromLevel: cli ? LogEventLevel.Verbose : null)
            .WriteTo.File(Path.Combine(paths.Logs, "gensaas-.log"), rollingInterval: RollingInterval.Day, retainedFileCountLimit: logFiles,
                fileSizeLimitBytes: logFileBytes, rollOnFileSizeLimit: true,
                outputTemplate: "{Timestamp:o} [{Level:u3}] {SourceContext} {Message:lj} {Properties:j}{NewLine}{Exception}"),
            // Each app writes through its own logger, never the process-wide Log.Logger: otherwise a second app in the process
            // (the CLI next to the server, the tests) takes over the first one's log file, and disposing either closes both.
            preserveStaticLogger: true);

        // Storage and activator belong to this app's container, not to Hangfire's process-wide JobStorage.Current and
        // JobActivator.Current: otherwise two apps in one process (the tests) enqueue into, and run jobs with, each other's.
        builder.Services.AddSingleton<JobStorage>(_ => new SQLiteStorage(paths.HangfireDb, new SQLiteStorageOptions
        {
            // The default 15 s poll would leave a capture or webhook retry waiting for no reason.
            QueuePollInterval = TimeSpan.FromSeconds(1),
        }));
        builder.Services.AddSingleton<JobActivator>(sp => new Hangfire.AspNetCore.AspNetCoreJobActivator(sp.GetRequiredService<IServiceScopeFactory>()));
        builder.Services.AddHangfire((services, config) => config
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseStorage(services.GetRequiredService<JobStorage>()));
        if (!cli && builder.Configuration.GetValue("Jobs:RunServer", true))
            builder.Services.AddHangfireServer(options =>
            {
                options.WorkerCount = Math.Max(2, Environment.ProcessorCount);
                // Scheduled jobs (webhook retries with back-off) are due within seconds; the default 15 s poll would add to each wait.
                options.SchedulePollingInterval = TimeSpan.FromSeconds(2);
            });

        builder.Services.AddSingleton<AppMetrics>();
        builder.Services.AddSingleton<ErrorRateWindow>();
        builder.Services.AddOptions<AlertOptions>().BindConfiguration("Operations:Alerts").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddHttpClient();
        builder.Services.AddScoped<Alerts>();
        builder.Services.AddScoped<AlertsJob>();
        builder.Services.AddOptions<MetricsOptions>().BindConfiguration("Operations:Metrics");
        builder.Services.AddOptions<BackupOptions>().BindConfiguration("Operations:Backup").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddScoped<Backups>();
        builder.Services.AddScoped<BackupJob>();
        builder.Services.AddScoped<ICliCommand, BackupCommand>();

        // Optional error reporting: with Sentry:Dsn set, unhandled exceptions and error logs go to Sentry (the Sentry section
        // configures the rest, e.g. Sentry__Environment); without it nothing is sent anywhere.
        if (!cli && !string.IsNullOrWhiteSpace(builder.Configuration["Sentry:Dsn"]))
            builder.WebHost.UseSentry();

        builder.Services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database")
            .AddCheck<HangfireHealthCheck>("hangfire");

        return builder;
    }

    public static WebApplication UseOperations(this WebApplication app)
    {
        app.UseSerilogRequestLogging(options =>
        {
            // This app's logger: the default is Serilog's static Log.Logger, which this app leaves silent (see AddOperations).
            options.Logger = app.Services.GetRequiredService<Serilog.ILogger>();
            options.GetLevel = (http, _, ex) =>
                ex is not null || http.Response.StatusCode >= 500 ? LogEventLevel.Error
                : http.Request.Path.StartsWithSegments("/healthz") ? LogEventLevel.Verbose
                : LogEventLevel.Information;
            // Each request's line names who made it; a generation adds its usage id (GenerationService sets it).
            options.EnrichDiagnosticContext = (diagnostics, http) =>
            {
                if (http.User.FindFirst(System.Security.Claims.ClaimTypes.NameIdentifier)?.Value is { } userId)
                    diagnostics.Set("UserId", userId);
            };
        });
        return app;
    }

    /// <summary>HTTP request metrics; right after routing, so every answer (a 401 from authorization too) is counted with its route.</summary>
    public static WebApplication UseRequestMetrics(this WebApplication app)
    {
        var metrics = app.Services.GetRequiredService<AppMetrics>();
        app.UseHttpMetrics(options => options.SetMetricFactory(Prometheus.Metrics.WithCustomRegistry(metrics.Registry)));
        var errorRate = app.Services.GetRequiredService<ErrorRateWindow>();
        app.Use(async (http, next) =>
        {
            try
            {
                await next(http);
            }
            catch
            {
                errorRate.Record(StatusCodes.Status500InternalServerError);
                throw;
            }
            errorRate.Record(http.Response.StatusCode);
        });
        return app;
    }

    public static WebApplication MapOperations(this WebApplication app)
    {
        AppMetrics.Map(app);
        app.MapHealthChecks("/healthz", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions
        {
            // Anyone may ask whether the app is up; what each check found (versions, queue sizes, errors) is for admins only.
            ResponseWriter = async (http, report) =>
            {
                if (!http.User.IsInRole(Accounts.Roles.Admin))
                {
                    http.Response.ContentType = "text/plain; charset=utf-8";
                    await http.Response.WriteAsync(report.Status == HealthStatus.Unhealthy ? "unhealthy" : "healthy");
                    return;
                }
                http.Response.ContentType = "application/json";
                await http.Response.WriteAsJsonAsync(new
                {
                    status = report.Status.ToString(),
                    checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), e.Value.Description }),
                });
            },
        });
        app.MapHangfireDashboard("/hangfire", new DashboardOptions
        {
            Authorization = [new AdminDashboardAuthorization()],
            DashboardTitle = "GenSaaS jobs",
            AppPath = "/admin",
        }).RequireAuthorization(Accounts.Roles.Admin);
        if (app.Configuration.GetValue("Jobs:RunServer", true))
        {
            BackupJob.Schedule(app);
            app.Services.GetRequiredService<IRecurringJobManager>()
                .AddOrUpdate<AlertsJob>(Alerts.RecurringId, job => job.RunAsync(CancellationToken.None), Cron.Minutely());
        }
        return app;
    }
}

internal sealed class DatabaseHealthCheck(Db db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            await using var connection = await db.OpenAsync(ct);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT count(*) FROM schemaversions";
            var scripts = await command.ExecuteScalarAsync(ct);
            return HealthCheckResult.Healthy($"{scripts} migrations applied");
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy("database unreachable", ex);
        }
    }
}

internal sealed class HangfireHealthCheck(JobStorage storage) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            var stats = storage.GetMonitoringApi().GetStatistics();
            return Task.FromResult(stats.Servers > 0
                ? HealthCheckResult.Healthy($"{stats.Servers} server(s), {stats.Enqueued} enqueued, {stats.Failed} failed")
                : HealthCheckResult.Degraded("storage reachable, no job server running"));
        }
        catch (Exception ex)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("job storage unreachable", ex));
        }
    }
}

/// <summary>The endpoint already requires the admin policy; this keeps Hangfire's own check from defaulting to local requests, which trusts any proxy.</summary>
internal sealed class AdminDashboardAuthorization : Hangfire.Dashboard.IDashboardAuthorizationFilter
{
    public bool Authorize(Hangfire.Dashboard.DashboardContext context)
    {
        var user = context.GetHttpContext().User;
        return user.Identity?.IsAuthenticated == true && user.IsInRole(Accounts.Roles.Admin);
    }
}
