using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Generation;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Tests.Infrastructure;
using Hangfire;
using Hangfire.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Operations;

/// <summary>An operator's backup taken while customers generate, and a restore that brings back the same business.</summary>
public sealed class BackupTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "gensaas-tests", "backup-" + Guid.NewGuid().ToString("N"));

    private static Dictionary<string, string?> Settings() => new()
    {
        ["Credits:TrialRatePerMinute"] = "100000",
        ["Billing:Plans:bundle_10:RatePerMinute"] = "100000",
    };

    public BackupTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private string Folder(string name) => Path.Combine(_root, name);

    [Fact]
    public async Task BackupWhileWriting_RestoresIntoAnEmptyFolder_WithBalancesEqualToTheLedger_AndTheSameImages()
    {
        using var app = new TestApp(Settings());
        var (user, client) = await app.SignedInUserAsync("backup@example.com");
        var ledger = app.Services.GetRequiredService<CreditLedger>();
        await ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 50, "bundle", "backup-bundle", "test");
        for (var i = 0; i < 3; i++)
            (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = $"before the backup {i}" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        var large = await SaveLargeImageAsync(app, user.Id);

        // A writer keeps moving credits and making images for the whole backup.
        using var stop = new CancellationTokenSource();
        var writes = 0;
        var writer = Task.Run(async () =>
        {
            var other = await app.CreateUserAsync("writer@example.com");
            while (!stop.IsCancellationRequested)
            {
                await ledger.GrantAsync(other.Id, CreditBucket.Prepaid, 1, "load", reference: null, "test");
                if (writes % 20 == 0)
                    await client.PostAsJsonAsync("/api/v1/generations", new { prompt = $"during the backup {writes}" });
                Interlocked.Increment(ref writes);
            }
        });
        await WaitUntilAsync(() => Volatile.Read(ref writes) > 50);

        var backup = await AppCli.RunAsync(app.DataDir, "backup", "--to", Folder("backup"));
        var writesDuringBackup = Volatile.Read(ref writes);
        await WaitUntilAsync(() => Volatile.Read(ref writes) > writesDuringBackup + 20);
        await stop.CancelAsync();
        await writer;
        backup.ExitCode.ShouldBe(0, backup.Error + backup.Output);
        backup.Output.ShouldContain("Backup written to");
        File.Exists(Path.Combine(Folder("backup"), "backup.json")).ShouldBeTrue();
        File.Exists(Path.Combine(Folder("backup"), "gensaas.db-wal")).ShouldBeFalse("each copied database stands alone");

        var restore = await AppCli.RunAsync(Folder("restored"), "restore", "--from", Folder("backup"));
        restore.ExitCode.ShouldBe(0, restore.Error + restore.Output);

        using var restored = new TestApp(Settings(), Folder("restored")) { KeepDataDir = true };
        await using (var connection = await restored.Db.OpenAsync())
        {
            (await connection.ExecuteScalarAsync<string>("PRAGMA integrity_check")).ShouldBe("ok");
            (await connection.QueryAsync("PRAGMA foreign_key_check")).ShouldBeEmpty();
            var mismatches = await connection.QueryAsync<string>("""
                SELECT b.user_id FROM credit_balances b
                WHERE b.trial_balance <> (SELECT coalesce(sum(amount), 0) FROM credit_ledger l WHERE l.user_id = b.user_id AND l.bucket = 'trial')
                   OR b.prepaid_balance <> (SELECT coalesce(sum(amount), 0) FROM credit_ledger l WHERE l.user_id = b.user_id AND l.bucket = 'prepaid')
                """);
            mismatches.ShouldBeEmpty();
            var loadLines = await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM credit_ledger WHERE reason = 'load'");
            loadLines.ShouldBeGreaterThan(0);
            loadLines.ShouldBeLessThan(Volatile.Read(ref writes), "the copy is the state at one moment of the backup, not after it");
        }

        // The customer signs in to the restored app with the same password and gets the same images, byte for byte.
        var again = await restored.SignInAsync("backup@example.com");
        using var list = JsonDocument.Parse(await again.GetStringAsync("/api/v1/generations?limit=100"));
        var ids = list.RootElement.GetProperty("data").EnumerateArray().Select(g => g.GetProperty("id").GetString()!).ToList();
        ids.Count.ShouldBeGreaterThanOrEqualTo(3);
        foreach (var id in ids)
        {
            var original = await client.GetByteArrayAsync($"/images/{id}.png");
            (await again.GetByteArrayAsync($"/images/{id}.png")).ShouldBe(original, $"image {id}");
        }
        var restoredFile = restored.Services.GetRequiredService<ImageStore>().Find(user.Id, large.Id, thumbnail: false).ShouldNotBeNull();
        (await File.ReadAllBytesAsync(restoredFile)).ShouldBe(large.Png);
    }

    [Fact]
    public async Task Restore_RefusesAFolderInUse_AndADamagedBackup_AndChangesNothing()
    {
        using var app = new TestApp(Settings());
        var (user, client) = await app.SignedInUserAsync();
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "one image" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        await SaveLargeImageAsync(app, user.Id);
        (await AppCli.RunAsync(app.DataDir, "backup", "--to", Folder("backup"))).ExitCode.ShouldBe(0);

        // Into a data folder that already has a database: refused, the folder untouched.
        var before = await File.ReadAllBytesAsync(Path.Combine(app.DataDir, "gensaas.db"));
        var busy = await AppCli.RunAsync(app.DataDir, "restore", "--from", Folder("backup"));
        busy.ExitCode.ShouldBe(1);
        busy.Error.ShouldContain("not empty");
        (await File.ReadAllBytesAsync(Path.Combine(app.DataDir, "gensaas.db"))).Length.ShouldBe(before.Length);

        // A backup whose image changed since: refused before anything is copied.
        var image = Directory.EnumerateFiles(Path.Combine(Folder("backup"), "images"), "*", SearchOption.AllDirectories).First();
        var bytes = await File.ReadAllBytesAsync(image);
        bytes[^1] ^= 0xFF;
        await File.WriteAllBytesAsync(image, bytes);
        var damaged = await AppCli.RunAsync(Folder("restored"), "restore", "--from", Folder("backup"));
        damaged.ExitCode.ShouldBe(1);
        damaged.Error.ShouldContain("does not match the manifest");
        File.Exists(Path.Combine(Folder("restored"), "gensaas.db")).ShouldBeFalse();

        // A folder that is not a backup, and a missing option.
        var notABackup = await AppCli.RunAsync(Folder("restored"), "restore", "--from", app.DataDir);
        notABackup.ExitCode.ShouldBe(1);
        notABackup.Error.ShouldContain("backup.json");
        (await AppCli.RunAsync(Folder("restored"), "restore")).ExitCode.ShouldBe(64);
    }

    [Fact]
    public async Task Backup_RefusesAFolderThatIsNotEmpty_OrInsideTheDataFolder()
    {
        using var app = new TestApp(Settings());
        await app.SignedInUserAsync();
        Directory.CreateDirectory(Folder("used"));
        await File.WriteAllTextAsync(Path.Combine(Folder("used"), "keep.txt"), "mine");

        var used = await AppCli.RunAsync(app.DataDir, "backup", "--to", Folder("used"));
        used.ExitCode.ShouldBe(1);
        used.Error.ShouldContain("not empty");
        Directory.EnumerateFileSystemEntries(Folder("used")).Count().ShouldBe(1);

        var inside = await AppCli.RunAsync(app.DataDir, "backup", "--to", Path.Combine(app.DataDir, "copy"));
        inside.ExitCode.ShouldBe(1);
        inside.Error.ShouldContain("inside the data folder");
        (await AppCli.RunAsync(app.DataDir, "backup")).ExitCode.ShouldBe(64);
    }

    [Fact]
    public async Task NightlyJob_IsScheduledOnlyWithAFolder_AndKeepsTheNewestN()
    {
        using (var without = new TestApp(Settings()))
            RecurringIds(without).ShouldNotContain(BackupJob.RecurringId);

        var settings = Settings();
        settings["Operations:Backup:Dir"] = Folder("nightly");
        settings["Operations:Backup:Keep"] = "2";
        using var app = new TestApp(settings);
        await app.SignedInUserAsync();
        RecurringIds(app).ShouldContain(BackupJob.RecurringId);

        var runs = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            await using var scope = app.Services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<BackupJob>().RunAsync(CancellationToken.None);
            runs.AddRange(Directory.EnumerateDirectories(Folder("nightly")).Except(runs));
            await Task.Delay(5); // names are stamped to the millisecond
        }

        var left = Directory.EnumerateDirectories(Folder("nightly")).Order(StringComparer.Ordinal).ToList();
        runs.Count.ShouldBe(3);
        left.ShouldBe(runs.Order(StringComparer.Ordinal).Skip(1).ToList());
        foreach (var dir in left)
            (await Backups.VerifyAsync(dir, CancellationToken.None)).Files.ShouldContain(f => f.Path == "gensaas.db");
    }

    /// <summary>An image over the inline limit, so it is a file under images/ (the built-in generator's fit in the database).</summary>
    private static async Task<(string Id, byte[] Png)> SaveLargeImageAsync(TestApp app, string userId)
    {
        using var bitmap = new SkiaSharp.SKBitmap(400, 300);
        var random = new Random(7);
        for (var x = 0; x < bitmap.Width; x++)
            for (var y = 0; y < bitmap.Height; y++)
                bitmap.SetPixel(x, y, new SkiaSharp.SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
        using var png = SkiaSharp.SKImage.FromBitmap(bitmap).Encode(SkiaSharp.SKEncodedImageFormat.Png, 90);
        var bytes = png.ToArray();
        bytes.Length.ShouldBeGreaterThan(ImageStore.InlineLimit);
        var id = Guid.CreateVersion7().ToString("N");
        await app.Services.GetRequiredService<ImageStore>().SaveAsync(userId, id, new GeneratedImage(bytes, 400, 300), CancellationToken.None);
        return (id, bytes);
    }

    private static List<string> RecurringIds(TestApp app)
    {
        using var connection = app.Services.GetRequiredService<JobStorage>().GetConnection();
        return connection.GetRecurringJobs().Select(j => j.Id).ToList();
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("the condition never held");
            await Task.Delay(20);
        }
    }
}
