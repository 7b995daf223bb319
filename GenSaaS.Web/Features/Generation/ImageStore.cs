using System.Collections.Concurrent;
using Dapper;
using GenSaaS.Web.Data;
using Microsoft.Data.Sqlite;
using Microsoft.Win32.SafeHandles;
using SkiaSharp;

namespace GenSaaS.Web.Features.Generation;

/// <summary>
/// The parts of an image that go in the database with its generation: null where that part is a file or, for the
/// thumbnail, where the image is its own thumbnail.
/// </summary>
public sealed record StoredImage(byte[]? Image, byte[]? Thumbnail)
{
    public static readonly StoredImage None = new(null, null);
}

/// <summary>Where an image is to be served from: bytes kept in the database, or a file.</summary>
public sealed record ImageContent(byte[]? Bytes, string? File);

/// <summary>
/// Keeps each image and its thumbnail. Parts up to <see cref="InlineLimit"/> bytes go in the database, in the
/// transaction that records the generation (<see cref="Record"/>): SQLite reads and writes blobs that small faster than
/// the file system creates files, and they can never be left behind by a failed generation. Bigger parts are files
/// under the data folder: <c>images/{user}/{shard}/{generation}.png</c>, the shard being the last two characters of the
/// generation id. One folder per user held every image until a busy account's folder reached a hundred thousand files,
/// where each new file cost the file system more (and concurrent creates in one folder wait for each other); images
/// stored that way are still found.
/// </summary>
public sealed class ImageStore(AppPaths paths, Db db)
{
    public const int ThumbnailSize = 128;

    /// <summary>
    /// The largest part kept in the database: a thumbnail fits (128 × 128 pixels at four bytes each is 64 KiB before
    /// compression), a full-size picture seldom does.
    /// </summary>
    public const int InlineLimit = 64 * 1024;

    /// <summary>
    /// Makes the thumbnail and writes the parts too big for the database as files. The rest is returned, for
    /// <see cref="Record"/> to write with the generation.
    /// </summary>
    public Task<StoredImage> SaveAsync(string userId, string generationId, GeneratedImage image, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        // An image already no bigger than a thumbnail is its own thumbnail: one part, not two.
        var thumbnail = HasOwnThumbnail(image.Width, image.Height) ? MakeThumbnail(image.Png) : null;
        var stored = new StoredImage(image.Png.Length <= InlineLimit ? image.Png : null, thumbnail is { Length: <= InlineLimit } ? thumbnail : null);
        if (stored.Image is null)
            WriteFile(userId, generationId, ".png", image.Png);
        if (thumbnail is not null && stored.Thumbnail is null)
            WriteFile(userId, generationId, ".thumb.png", thumbnail);
        return Task.FromResult(stored);
    }

    private static bool HasOwnThumbnail(long width, long height) => width > ThumbnailSize || height > ThumbnailSize;

    private const string InsertSql = """
        INSERT INTO generation_images (generation_id, variant, png) VALUES (@generationId, @variant, @png);
        """;

    /// <summary>Writes the database's parts of an image inside the caller's write transaction, after its generation row.</summary>
    public static void Record(SqliteConnection connection, SqliteTransaction tx, string generationId, StoredImage image)
    {
        if (image.Image is { } png)
            connection.Prepared(tx, InsertSql, ("@generationId", generationId), ("@variant", "image"), ("@png", png)).ExecuteNonQuery();
        if (image.Thumbnail is { } thumbnail)
            connection.Prepared(tx, InsertSql, ("@generationId", generationId), ("@variant", "thumbnail"), ("@png", thumbnail)).ExecuteNonQuery();
    }

    private const string ReadSql = """
        SELECT png FROM generation_images WHERE generation_id = @generationId AND variant = @variant;
        """;

    /// <summary>The image, or its thumbnail, of a recorded generation; null when neither the database nor a file has it.</summary>
    public async Task<ImageContent?> ReadAsync(GenerationRecord generation, bool thumbnail, CancellationToken ct)
    {
        var variant = thumbnail && HasOwnThumbnail(generation.Width, generation.Height) ? "thumbnail" : "image";
        await using (var connection = await db.OpenAsync(ct))
        {
            if (await connection.QuerySingleOrDefaultAsync<byte[]>(new CommandDefinition(ReadSql, new { generationId = generation.Id, variant }, cancellationToken: ct)) is { } png)
                return new ImageContent(png, null);
        }
        return Find(generation.UserId, generation.Id, thumbnail) is { } file ? new ImageContent(null, file) : null;
    }

    private void WriteFile(string userId, string generationId, string suffix, byte[] png)
    {
        var folder = Path.Combine(paths.Images, SafeName(userId), Shard(generationId));
        if (!_folders.ContainsKey(folder))
        {
            Directory.CreateDirectory(folder);
            _folders.TryAdd(folder, 0);
        }
        // Written synchronously: for the size of a PNG the thread-pool hop of async file I/O costs more than the write.
        WriteNew(Path.Combine(folder, SafeName(generationId) + suffix), png);
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

    /// <summary>The file of an image, or null when it is not there (or is kept in the database).</summary>
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

    /// <summary>Removes the files of an image that will not be recorded (its usage was released); missing files are fine.</summary>
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
