using System.ComponentModel.DataAnnotations;

namespace GenSaaS.Web.Data;

/// <summary>The <c>App</c> configuration section.</summary>
public sealed class AppOptions
{
    /// <summary>Folder for the databases, images, logs and keys; relative paths are under the content root.</summary>
    [Required] public string DataDir { get; set; } = "data";

    /// <summary>The address customers reach the app at (used in emails and Stripe return URLs); empty means the request's own.</summary>
    public string? PublicBaseUrl { get; set; }
}

/// <summary>Where everything the app writes lives, all under one data folder.</summary>
public sealed class AppPaths
{
    public AppPaths(string dataDir)
    {
        DataDir = Path.GetFullPath(dataDir);
        foreach (var dir in new[] { DataDir, Images, Logs, Keys, Outbox })
            Directory.CreateDirectory(dir);
    }

    public string DataDir { get; }
    public string AppDb => Path.Combine(DataDir, "gensaas.db");
    public string HangfireDb => Path.Combine(DataDir, "hangfire.db");
    public string EmulatorDb => Path.Combine(DataDir, "stripe-emulator.db");
    public string Images => Path.Combine(DataDir, "images");
    public string Logs => Path.Combine(DataDir, "logs");
    public string Keys => Path.Combine(DataDir, "keys");
    public string Outbox => Path.Combine(DataDir, "outbox");

    public static AppPaths FromConfiguration(IConfiguration configuration, string contentRoot)
    {
        var dir = configuration["App:DataDir"];
        if (string.IsNullOrWhiteSpace(dir)) dir = "data";
        return new AppPaths(Path.IsPathRooted(dir) ? dir : Path.Combine(contentRoot, dir));
    }
}
