using System.Collections.Concurrent;
using GenSaaS.Web.Data;
using Microsoft.Win32.SafeHandles;
using SkiaSharp;

namespace GenSaaS.Web.Features.Generation;

/// <summary>
/// Writes each image and its thumbnail under the data folder: <c>images/{user}/{shard}/{generation}.png</c>, the shard
/// being the last two characters of the generation id. One folder per user held every image until a busy account's
/// folder reached a hundred thousand files, where each new file cost the file system more (and concurrent creates in
/// one folder wait for each other); images stored that way are still found.
/// </summary>
public sealed class ImageStore(AppPaths paths)
{
    public const int ThumbnailSize = 128;

    public Task SaveAsync(string userId, string generationId, GeneratedImage image, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var folder = Path.Combine(paths.Images, SafeName(userId), Shard(generationId));
        if (!_folders.ContainsKey(folder))
        {
            Directory.CreateDirectory(folder);
            _folders.TryAdd(folder, 0);
        }
        // Small files are written synchronously: for a few kilobytes the thread-pool hop of async file I/O costs
        // more than the write. An image already no bigger than a thumbnail is its own thumbnail: one file, not two.
        WriteNew(Path.Combine(folder, $"{SafeName(generationId)}.png"), image.Png);
        if (image.Width > ThumbnailSize || image.Height > ThumbnailSize)
            WriteNew(Path.Combine(folder, $"{SafeName(generationId)}.thumb.png"), MakeThumbnail(image.Png));
        return Task.CompletedTask;
    }

    /// <summary>
    /// Writes a file that must not exist yet. Not <c>File.WriteAllBytes</c>: that opens for truncation, and ext4 answers a
    /// truncated-then-rewritten file by pushing it to disk when it is closed — a disk write on every generation.
    /// </summary>
    private void WriteNew(string path, byte[] bytes)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write);
        }
        catch (DirectoryNotFoundException)
        {
            // The folder was removed behind the store's back (an operator clearing images): make it again.
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write);
        }
        using (handle)
            RandomAccess.Write(handle, bytes, 0);
    }

    /// <summary>Folders known to exist, so a generation costs no directory calls beyond creating its file.</summary>
    private readonly ConcurrentDictionary<string, byte> _folders = new();

    /// <summary>The file of an image, or null when it is not there.</summary>
    public string? Find(string userId, string generationId, bool thumbnail)
    {
        // An image no bigger than a thumbnail has no separate thumbnail file: it is served for both.
        foreach (var stem in Stems(userId, generationId))
        {
            if (thumbnail && File.Exists(stem + ".thumb.png"))
                return stem + ".thumb.png";
            if (File.Exists(stem + ".png"))
                return stem + ".png";
        }
        return null;
    }

    /// <summary>Where an image's files are: in its shard, else where images were kept before shards.</summary>
    private IEnumerable<string> Stems(string userId, string generationId)
    {
        var user = Path.Combine(paths.Images, SafeName(userId));
        yield return Path.Combine(user, Shard(generationId), SafeName(generationId));
        yield return Path.Combine(user, SafeName(generationId));
    }

    private static string Shard(string generationId) => SafeName(generationId.Length >= 2 ? generationId[^2..] : "00").ToLowerInvariant();

    /// <summary>Removes an image that will not be recorded (its usage was released); missing files are fine.</summary>
    public void Delete(string userId, string generationId)
    {
        foreach (var stem in Stems(userId, generationId))
        {
            if (!Directory.Exists(Path.GetDirectoryName(stem)))
                continue;
            File.Delete(stem + ".png");
            File.Delete(stem + ".thumb.png");
        }
    }

    private static byte[] MakeThumbnail(byte[] png)
    {
        using var original = SKBitmap.Decode(png) ?? throw new GenerationFailedException("The generated image could not be read.");
        var scale = (float)ThumbnailSize / Math.Max(original.Width, original.Height);
        var info = new SKImageInfo(Math.Max(1, (int)(original.Width * scale)), Math.Max(1, (int)(original.Height * scale)));
        using var resized = original.Resize(info, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
            ?? throw new GenerationFailedException("The thumbnail could not be made.");
        using var image = SKImage.FromBitmap(resized);
        using var data = image.Encode(SKEncodedImageFormat.Png, 90);
        return data.ToArray();
    }

    private static string SafeName(string id) =>
        id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') ? id : throw new ArgumentException("Unsafe id", nameof(id));
}
