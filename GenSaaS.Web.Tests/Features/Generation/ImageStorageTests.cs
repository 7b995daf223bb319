using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Generation;
using GenSaaS.Web.Tests.Features.Credits;

namespace GenSaaS.Web.Tests.Features.Generation;

/// <summary>Where a generation's image ends up, seen over HTTP: the Null backend's one-pixel image stays in the database.</summary>
public sealed class ImageStorageTests(CreditsTestApp app) : IClassFixture<CreditsTestApp>
{
    [Fact]
    public async Task ASmallImage_IsKeptWithItsGeneration_AndServedFromTheDatabase()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 2, "for test", $"img-{user.Id}", "test");

        var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "a single dot" });
        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = body.GetProperty("id").GetString()!;

        var expected = (await new NullGenerator().GenerateAsync("", 0, CancellationToken.None)).Png;
        (await client.GetByteArrayAsync(body.GetProperty("imageUrl").GetString())).ShouldBe(expected);
        (await client.GetByteArrayAsync(body.GetProperty("thumbnailUrl").GetString())).ShouldBe(expected);
        (await app.CountAsync("SELECT count(*) FROM generation_images WHERE generation_id = @id AND variant = 'image'", new { id })).ShouldBe(1);
        Directory.Exists(Path.Combine(app.DataDir, "images", user.Id)).ShouldBeFalse();

        var (_, stranger) = await app.SignedInUserAsync();
        (await stranger.GetAsync(body.GetProperty("imageUrl").GetString())).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task DeletingAnAccount_TakesItsImagesFromTheDatabase()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 1, "for test", $"img-del-{user.Id}", "test");
        var created = await (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "gone soon" })).Content.ReadFromJsonAsync<JsonElement>();
        var id = created.GetProperty("id").GetString()!;
        (await app.CountAsync("SELECT count(*) FROM generation_images WHERE generation_id = @id", new { id })).ShouldBe(1);

        await app.ExecuteAsync("DELETE FROM AspNetUsers WHERE Id = @id", new { id = user.Id });

        (await app.CountAsync("SELECT count(*) FROM generation_images WHERE generation_id = @id", new { id })).ShouldBe(0);
    }
}
