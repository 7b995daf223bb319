using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Generation;

namespace GenSaaS.Web.Tests.Features.Generation;

public sealed class ImageStoreTests : IDisposable
{
    private static readonly byte[] OnePixel = Convert.FromBase64String(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=");

    private readonly AppPaths _paths = new(Path.Combine(Path.GetTempPath(), "gensaas-tests", Guid.NewGuid().ToString("N")));

    public void Dispose() => Directory.Delete(_paths.DataDir, recursive: true);

    [Fact]
    public async Task ImagesOfOneUser_AreSpreadOverShardFolders_AndFoundAgain()
    {
        var store = new ImageStore(_paths);
        var ids = Enumerable.Range(0, 300).Select(_ => Guid.CreateVersion7().ToString("N")).ToList();
        foreach (var id in ids)
            await store.SaveAsync("user1", id, new GeneratedImage(OnePixel, 1, 1), CancellationToken.None);

        var userFolder = Path.Combine(_paths.Images, "user1");
        Directory.GetFiles(userFolder).ShouldBeEmpty();
        Directory.GetDirectories(userFolder).Length.ShouldBeGreaterThan(100);
        Directory.GetDirectories(userFolder).Max(d => Directory.GetFiles(d).Length).ShouldBeLessThan(20);
        foreach (var id in ids)
        {
            File.ReadAllBytes(store.Find("user1", id, thumbnail: false)!).ShouldBe(OnePixel);
            store.Find("user1", id, thumbnail: true).ShouldBe(store.Find("user1", id, thumbnail: false));
        }
    }

    [Fact]
    public void AnImageStoredBeforeShards_IsStillFound_AndDeleted()
    {
        var store = new ImageStore(_paths);
        var id = Guid.CreateVersion7().ToString("N");
        var legacy = Path.Combine(_paths.Images, "user1", $"{id}.png");
        Directory.CreateDirectory(Path.GetDirectoryName(legacy)!);
        File.WriteAllBytes(legacy, OnePixel);

        store.Find("user1", id, thumbnail: true).ShouldBe(legacy);
        store.Delete("user1", id);
        File.Exists(legacy).ShouldBeFalse();
        store.Find("user1", id, thumbnail: false).ShouldBeNull();
    }

    [Fact]
    public async Task AShardFolderRemovedBehindTheStoresBack_IsMadeAgain()
    {
        var store = new ImageStore(_paths);
        var first = Guid.CreateVersion7().ToString("N");
        await store.SaveAsync("user1", first, new GeneratedImage(OnePixel, 1, 1), CancellationToken.None);
        Directory.Delete(Path.Combine(_paths.Images, "user1"), recursive: true);

        // The same shard as the first image, whose folder the store remembers as made.
        var second = (first[0] == 'a' ? "b" : "a") + first[1..];
        await store.SaveAsync("user1", second, new GeneratedImage(OnePixel, 1, 1), CancellationToken.None);
        File.ReadAllBytes(store.Find("user1", second, thumbnail: false)!).ShouldBe(OnePixel);
    }
}
