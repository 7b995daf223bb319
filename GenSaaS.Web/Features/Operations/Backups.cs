using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text.Json;
using GenSaaS.Web.Data;
using Hangfire;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Operations;

/// <summary>The <c>Operations:Backup</c> section: the nightly backup job.</summary>
public sealed class BackupOptions
{
    /// <summary>Folder the nightly job writes a dated backup into; empty = no nightly backup.</summary>
    public string? Dir { get; set; }

    /// <summary>How many nightly backups to keep; older ones are deleted after a new one is complete.</summary>
    [Range(1, 366)] public int Keep { get; set; } = 7;

    /// <summary>When the nightly job runs (cron, UTC).</summary>
    [Required] public string Cron { get; set; } = "30 3 * * *";
}

/// <summary>One file of a backup, with what it must hash to on restore.</summary>
public sealed record BackupFile(string Path, long Bytes, string Sha256);

/// <summary><c>backup.json</c>: written last, so a folder with it is a complete backup.</summary>
public sealed record BackupManifest(int Format, DateTimeOffset CreatedAt, IReadOnlyList<BackupFile> Files);

public sealed class BackupException(string message) : Exception(message);

/// <summary>
/// A consistent copy of the data folder while the app serves traffic: each database through SQLite's online backup
/// (a snapshot of one committed state, writers keep going), then the images and Data Protection keys. Logs and the dev
/// outbox are not part of it. Databases are copied before images, so every image the copied database names was on disk
/// when the files were copied, unless its owner deleted it in between.
/// </summary>
public sealed class Backups(AppPaths paths, TimeProvider clock, ILogger<Backups> log)
{
    public const string ManifestName = "backup.json";
    private const int Format = 1;

    /// <summary>The databases a backup holds, in the order they are copied; the emulator's only when present.</summary>
    private static readonly string[] _databases = ["gensaas.db", "hangfire.db", "stripe-emulator.db"];

    private static readonly string[] _folders = ["images", "keys", "legal"];

    private static readonly JsonSerializerOptions _json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Writes a complete backup into <paramref name="target"/>, which must not exist or be empty.</summary>
    public async Task<BackupManifest> CreateAsync(string target, CancellationToken ct)
    {
        target = Path.GetFullPath(target);
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new BackupException($"{target} is not empty; a backup goes into a new or empty folder");
        if (IsInside(target, paths.DataDir))
            throw new BackupException($"{target} is inside the data folder; keep backups elsewhere");

        // Built beside the target and renamed at the end: a crash leaves a .partial folder, never a backup that looks whole.
        var partial = target + ".partial";
        if (Directory.Exists(partial))
            Directory.Delete(partial, recursive: true);
        Directory.CreateDirectory(partial);

        var files = new List<BackupFile>();
        foreach (var name in _databases)
        {
            var source = Path.Combine(paths.DataDir, name);
            if (!File.Exists(source))
                continue;
            var copy = Path.Combine(partial, name);
            CopyDatabase(source, copy);
            files.Add(await DescribeAsync(partial, copy, ct));
        }
        if (!files.Any(f => f.Path == "gensaas.db"))
            throw new BackupException($"{paths.AppDb} does not exist; nothing to back up");

        foreach (var folder in _folders)
        {
            var source = Path.Combine(paths.DataDir, folder);
            if (!Directory.Exists(source))
                continue;
            foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(paths.DataDir, file);
                var copy = Path.Combine(partial, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
                try
                {
                    File.Copy(file, copy);
                }
                catch (FileNotFoundException)
                {
                    continue; // deleted since it was listed: its generation was deleted too
                }
                files.Add(await DescribeAsync(partial, copy, ct));
            }
        }

        var manifest = new BackupManifest(Format, clock.GetUtcNow(), files);
        await File.WriteAllTextAsync(Path.Combine(partial, ManifestName), JsonSerializer.Serialize(manifest, _json), ct);
        if (Directory.Exists(target))
            Directory.Delete(target);
        Directory.Move(partial, target);
        log.LogInformation("Backup written to {BackupDir}: {FileCount} files, {Bytes} bytes", target, files.Count, files.Sum(f => f.Bytes));
        return manifest;
    }

    /// <summary>Copies one database page by page through SQLite's backup API and checks the copy.</summary>
    private static void CopyDatabase(string source, string copy)
    {
        using (var from = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = source, Mode = SqliteOpenMode.ReadWrite, Pooling = false }.ToString()))
        using (var to = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = copy, Pooling = false }.ToString()))
        {
            from.Open();
            using (var busy = from.CreateCommand())
            {
                busy.CommandText = "PRAGMA busy_timeout = 30000";
                busy.ExecuteNonQuery();
            }
            to.Open();
            from.BackupDatabase(to);
            // The copy stands alone: no -wal or -shm file beside it.
            using var journal = to.CreateCommand();
            journal.CommandText = "PRAGMA journal_mode = DELETE";
            journal.ExecuteNonQuery();
        }
        var check = QuickCheck(copy);
        if (check != "ok")
            throw new BackupException($"the copy of {Path.GetFileName(source)} fails SQLite's check: {check}");
    }

    private static string QuickCheck(string database)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA quick_check";
        return command.ExecuteScalar() as string ?? "no answer";
    }

    private static async Task<BackupFile> DescribeAsync(string root, string file, CancellationToken ct)
    {
        await using var stream = File.OpenRead(file);
        var hash = await SHA256.HashDataAsync(stream, ct);
        return new BackupFile(Path.GetRelativePath(root, file).Replace('\\', '/'), stream.Length, Convert.ToHexStringLower(hash));
    }

    /// <summary>Reads and verifies a backup: the manifest, and every file it lists present with its size and hash.</summary>
    public static async Task<BackupManifest> VerifyAsync(string from, CancellationToken ct)
    {
        from = Path.GetFullPath(from);
        var manifestPath = Path.Combine(from, ManifestName);
        if (!File.Exists(manifestPath))
            throw new BackupException($"{from} holds no {ManifestName}; it is not a complete backup");
        BackupManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<BackupManifest>(await File.ReadAllTextAsync(manifestPath, ct), _json);
        }
        catch (JsonException ex)
        {
            throw new BackupException($"{manifestPath} is not readable: {ex.Message}");
        }
        if (manifest is null || manifest.Format != Format || manifest.Files is null)
            throw new BackupException($"{manifestPath} is not a backup manifest of format {Format}");
        if (!manifest.Files.Any(f => f.Path == "gensaas.db"))
            throw new BackupException("the backup holds no gensaas.db");
        foreach (var file in manifest.Files)
        {
            var path = Path.GetFullPath(Path.Combine(from, file.Path));
            if (!IsInside(path, from))
                throw new BackupException($"the manifest names a file outside the backup: {file.Path}");
            if (!File.Exists(path))
                throw new BackupException($"{file.Path} is missing from the backup");
            var actual = await DescribeAsync(from, path, ct);
            if (actual.Bytes != file.Bytes || actual.Sha256 != file.Sha256)
                throw new BackupException($"{file.Path} does not match the manifest (changed or damaged since the backup)");
        }
        return manifest;
    }

    /// <summary>
    /// Restores a verified backup into <paramref name="dataDir"/>, which must hold no database, image or key yet.
    /// Runs before the app opens its data folder (the command is dispatched ahead of the app's own start).
    /// </summary>
    public static async Task<BackupManifest> RestoreAsync(string from, string dataDir, CancellationToken ct)
    {
        var manifest = await VerifyAsync(from, ct);
        dataDir = Path.GetFullPath(dataDir);
        var occupied = _databases.Select(d => Path.Combine(dataDir, d)).Where(File.Exists)
            .Concat(_folders.Select(f => Path.Combine(dataDir, f)).Where(d => Directory.Exists(d) && Directory.EnumerateFileSystemEntries(d).Any()))
            .ToList();
        if (occupied.Count > 0)
            throw new BackupException($"the data folder {dataDir} is not empty ({string.Join(", ", occupied.Select(o => Path.GetFileName(o)))}); restore into an empty one");

        Directory.CreateDirectory(dataDir);
        // Databases last: until gensaas.db is in place the folder does not look like a data folder to the app.
        foreach (var file in manifest.Files.OrderBy(f => _databases.Contains(f.Path) ? 1 : 0))
        {
            var target = Path.Combine(dataDir, file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(Path.Combine(from, file.Path), target);
        }
        return manifest;
    }

    /// <summary>Deletes the oldest complete backups named by <see cref="BackupJob"/> beyond <paramref name="keep"/>, and stale partial ones.</summary>
    public IReadOnlyList<string> Prune(string dir, int keep)
    {
        var deleted = new List<string>();
        if (!Directory.Exists(dir))
            return deleted;
        var complete = Directory.EnumerateDirectories(dir, BackupJob.Prefix + "*")
            .Where(d => !d.EndsWith(".partial", StringComparison.Ordinal) && File.Exists(Path.Combine(d, ManifestName)))
            .OrderByDescending(d => Path.GetFileName(d), StringComparer.Ordinal)
            .ToList();
        foreach (var old in complete.Skip(keep))
        {
            Directory.Delete(old, recursive: true);
            deleted.Add(old);
        }
        var dayAgo = clock.GetUtcNow().UtcDateTime.AddDays(-1);
        foreach (var partial in Directory.EnumerateDirectories(dir, BackupJob.Prefix + "*.partial").Where(d => Directory.GetLastWriteTimeUtc(d) < dayAgo))
        {
            Directory.Delete(partial, recursive: true);
            deleted.Add(partial);
        }
        return deleted;
    }

    private static bool IsInside(string path, string folder)
    {
        var relative = Path.GetRelativePath(folder, path);
        return relative == "." || (!relative.StartsWith("..", StringComparison.Ordinal) && !Path.IsPathRooted(relative));
    }
}

/// <summary>The nightly backup: a dated folder under <c>Operations:Backup:Dir</c>, then the oldest beyond <c>Keep</c> removed.</summary>
public sealed class BackupJob(Backups backups, IOptions<BackupOptions> options, TimeProvider clock, ILogger<BackupJob> log)
{
    public const string RecurringId = "operations-backup";
    public const string Prefix = "gensaas-";

    [AutomaticRetry(Attempts = 2)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public async Task RunAsync(CancellationToken ct)
    {
        var dir = options.Value.Dir;
        if (string.IsNullOrWhiteSpace(dir))
            return;
        var target = Path.Combine(dir, Prefix + clock.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'"));
        await backups.CreateAsync(target, ct);
        foreach (var deleted in backups.Prune(dir, options.Value.Keep))
            log.LogInformation("Old backup {BackupDir} deleted", deleted);
    }

    /// <summary>Registers the job when a backup folder is configured and removes it when not, so the setting alone decides.</summary>
    public static void Schedule(WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<BackupOptions>>().Value;
        var recurring = app.Services.GetRequiredService<IRecurringJobManager>();
        if (string.IsNullOrWhiteSpace(options.Dir))
            recurring.RemoveIfExists(RecurringId);
        else
            recurring.AddOrUpdate<BackupJob>(RecurringId, job => job.RunAsync(CancellationToken.None), options.Cron);
    }
}
