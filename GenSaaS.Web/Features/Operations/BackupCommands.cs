namespace GenSaaS.Web.Features.Operations;

/// <summary><c>backup --to DIR</c>: a consistent copy of the data folder, taken while the app keeps serving.</summary>
public sealed class BackupCommand(Backups backups) : ICliCommand
{
    public string Name => "backup";

    public string Usage => "backup --to DIR                  # databases (SQLite online backup), images and keys into a new or empty folder";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var to = args.Required("to");
        try
        {
            var manifest = await backups.CreateAsync(to, ct);
            await output.WriteLineAsync($"Backup written to {Path.GetFullPath(to)}: {manifest.Files.Count} files, {manifest.Files.Sum(f => f.Bytes)} bytes.");
            return 0;
        }
        catch (BackupException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return 1;
        }
    }
}

/// <summary>
/// <c>restore --from DIR</c>: runs before the app is built, because building it creates and migrates the databases the
/// restore must put in place. The data folder comes from configuration (<c>App:DataDir</c>) like the app's own.
/// </summary>
public static class RestoreCommand
{
    public const string Usage = "restore --from DIR               # a verified backup into an empty data folder (App__DataDir); the app must not be running";

    public static bool Matches(string[] args) => args.Length > 0 && args[0] == "restore";

    public static async Task<int> RunAsync(string[] args, IConfiguration configuration, string contentRoot)
    {
        try
        {
            var from = new CliArgs(args.Skip(1)).Required("from");
            var dir = configuration["App:DataDir"];
            if (string.IsNullOrWhiteSpace(dir)) dir = "data";
            var dataDir = Path.IsPathRooted(dir) ? dir : Path.Combine(contentRoot, dir);
            var manifest = await Backups.RestoreAsync(from, dataDir, CancellationToken.None);
            Console.WriteLine($"Restored {manifest.Files.Count} files from the backup of {manifest.CreatedAt:u} into {Path.GetFullPath(dataDir)}.");
            return 0;
        }
        catch (CliUsageException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}\nusage: GenSaaS.Web {Usage}");
            return 64;
        }
        catch (BackupException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return 1;
        }
    }
}
