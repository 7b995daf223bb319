using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Generation;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Tests.Features.Generation;

public sealed class ImageStoreTests : IAsyncLifetime
{
    private static readonly byte[] OnePixel = Convert.FromBase64String(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=");

    private readonly AppPaths _paths = new(Path.Combine(Path.GetTempPath(), "gensaas-tests", Guid.NewGuid().ToString("N")));
    private Db _db = null!;
    private ImageStore _store = null!;

    public Task InitializeAsync()
    {
        _db = new Db(_paths);
        _store = new ImageStore(_paths, _db);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_paths.DataDir, recursive: true);
    }

    /// <summary>Bytes over the database's limit; the store does not read them unless it has to make a thumbnail.</summary>
    private static GeneratedImage Large() => new(Enumerable.Repeat((byte)7, ImageStore.InlineLimit + 1).ToArray(), 1, 1);

    private IEnumerable<string> Files() => Directory.EnumerateFiles(_paths.Images, "*", SearchOption.AllDirectories);

    [Fact]
    public async Task SmallParts_GoToTheDatabase_AndNoFileIsWritten()
    {
        var id = Guid.CreateVersion7().ToString("N");
        var stored = await _store.SaveAsync("user1", id, new GeneratedImage(OnePixel, 1, 1), CancellationToken.None);

        stored.Image.ShouldBe(OnePixel);
        stored.Thumbnail.ShouldBeNull(); // a 1x1 image is its own thumbnail
        Files().ShouldBeEmpty();
        _store.Find("user1", id, thumbnail: false).ShouldBeNull();
    }

    [Fact]
    public async Task ALargeImage_IsAFile_AndItsThumbnailGoesToTheDatabase()
    {
        using var bitmap = new SkiaSharp.SKBitmap(600, 400);
        var random = new Random(3);
        for (var x = 0; x < bitmap.Width; x++)
            for (var y = 0; y < bitmap.Height; y++)
                bitmap.SetPixel(x, y, new SkiaSharp.SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
        using var png = SkiaSharp.SKImage.FromBitmap(bitmap).Encode(SkiaSharp.SKEncodedImageFormat.Png, 90);
        var image = new GeneratedImage(png.ToArray(), 600, 400);
        image.Png.Length.ShouldBeGreaterThan(ImageStore.InlineLimit);

        var id = Guid.CreateVersion7().ToString("N");
        var stored = await _store.SaveAsync("user1", id, image, CancellationToken.None);

        stored.Image.ShouldBeNull();
        File.ReadAllBytes(_store.Find("user1", id, thumbnail: false)!).ShouldBe(image.Png);
        using var thumbnail = SkiaSharp.SKBitmap.Decode(stored.Thumbnail.ShouldNotBeNull());
        (thumbnail.Width, thumbnail.Height).ShouldBe((ImageStore.ThumbnailSize, 85));
        Files().Count().ShouldBe(1);
    }

    [Fact]
    public async Task ImageFilesOfOneUser_AreSpreadOverShardFolders_AndFoundAgain()
    {
        var ids = Enumerable.Range(0, 300).Select(_ => Guid.CreateVersion7().ToString("N")).ToList();
        foreach (var id in ids)
            await _store.SaveAsync("user1", id, Large(), CancellationToken.None);

        var userFolder = Path.Combine(_paths.Images, "user1");
        Directory.GetFiles(userFolder).ShouldBeEmpty();
        Directory.GetDirectories(userFolder).Length.ShouldBeGreaterThan(100);
        Directory.GetDirectories(userFolder).Max(d => Directory.GetFiles(d).Length).ShouldBeLessThan(20);
        foreach (var id in ids)
        {
            File.ReadAllBytes(_store.Find("user1", id, thumbnail: false)!).Length.ShouldBe(ImageStore.InlineLimit + 1);
            _store.Find("user1", id, thumbnail: true).ShouldBe(_store.Find("user1", id, thumbnail: false));
        }
    }

    [Fact]
    public void AnImageStoredBeforeShards_IsStillFound_AndDeleted()
    {
        var id = Guid.CreateVersion7().ToString("N");
        var legacy = Path.Combine(_paths.Images, "user1", $"{id}.png");
        Directory.CreateDirectory(Path.GetDirectoryName(legacy)!);
        File.WriteAllBytes(legacy, OnePixel);

        _store.Find("user1", id, thumbnail: true).ShouldBe(legacy);
        _store.Delete("user1", id);
        File.Exists(legacy).ShouldBeFalse();
        _store.Find("user1", id, thumbnail: false).ShouldBeNull();
    }

    [Fact]
    public async Task AShardFolderRemovedBehindTheStoresBack_IsMadeAgain()
    {
        var first = Guid.CreateVersion7().ToString("N");
        await _store.SaveAsync("user1", first, Large(), CancellationToken.None);
        Directory.Delete(Path.Combine(_paths.Images, "user1"), recursive: true);

        // The same shard as the first image, whose folder the store remembers as made.
        var second = (first[0] == 'a' ? "b" : "a") + first[1..];
        await _store.SaveAsync("user1", second, Large(), CancellationToken.None);
        File.Exists(_store.Find("user1", second, thumbnail: false)).ShouldBeTrue();
    }
}
