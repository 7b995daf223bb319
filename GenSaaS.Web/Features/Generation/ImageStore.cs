using GenSaaS.Web.Data;
using SkiaSharp;

namespace GenSaaS.Web.Features.Generation;

/// <summary>Writes each image and its thumbnail under the data folder: <c>images/{user}/{generation}.png</c>.</summary>
public sealed class ImageStore(AppPaths paths)
{
    public const int ThumbnailSize = 128;

    public Task SaveAsync(string userId, string generationId, GeneratedImage image, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var folder = Path.Combine(paths.Images, SafeName(userId));
        Directory.CreateDirectory(folder);
        // Small files are written synchronously: for a few kilobytes the thread-pool hop of async file I/O costs
        // more than the write. An image already no bigger than a thumbnail is its own thumbnail: one file, not two.
        File.WriteAllBytes(Path.Combine(folder, $"{SafeName(generationId)}.png"), image.Png);
        if (image.Width > ThumbnailSize || image.Height > ThumbnailSize)
            File.WriteAllBytes(Path.Combine(folder, $"{SafeName(generationId)}.thumb.png"), MakeThumbnail(image.Png));
        return Task.CompletedTask;
    }

    /// <summary>The file of an image, or null when it is not there.</summary>
    public string? Find(string userId, string generationId, bool thumbnail)
    {
        // An image no bigger than a thumbnail has no separate thumbnail file: it is served for both.
        var stem = Path.Combine(paths.Images, SafeName(userId), SafeName(generationId));
        if (thumbnail && File.Exists(stem + ".thumb.png"))
            return stem + ".thumb.png";
        return File.Exists(stem + ".png") ? stem + ".png" : null;
    }

    /// <summary>Removes an image that will not be recorded (its usage was released); missing files are fine.</summary>
    public void Delete(string userId, string generationId)
    {
        var folder = Path.Combine(paths.Images, SafeName(userId));
        if (!Directory.Exists(folder))
            return;
        File.Delete(Path.Combine(folder, $"{SafeName(generationId)}.png"));
        File.Delete(Path.Combine(folder, $"{SafeName(generationId)}.thumb.png"));
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
