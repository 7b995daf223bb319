using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Generation;

public sealed class GenerationApiTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task AnonymousPage_RedirectsToSignIn_WithReturnUrl()
    {
        using var client = app.NewClient();
        var response = await client.GetAsync("/generate");
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login?ReturnUrl=%2Fgenerate");
    }

    [Fact]
    public async Task AnonymousApi_Is401ProblemUnauthenticated()
    {
        using var client = app.NewClient();
        var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "a cat" });
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString().ShouldBe("unauthenticated");
    }

    [Fact]
    public async Task SignedIn_Generate_Returns201_AndImageIsServedToOwnerOnly()
    {
        var (_, owner) = await app.SignedInUserAsync();
        var response = await owner.PostAsJsonAsync("/api/v1/generations", new { prompt = "a lighthouse at dusk", seed = 42 });
        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var imageUrl = body.GetProperty("imageUrl").GetString()!;
        var thumbUrl = body.GetProperty("thumbnailUrl").GetString()!;

        var image = await owner.GetAsync(imageUrl);
        image.StatusCode.ShouldBe(HttpStatusCode.OK);
        image.Content.Headers.ContentType!.MediaType.ShouldBe("image/png");
        var bytes = await image.Content.ReadAsByteArrayAsync();
        bytes.Length.ShouldBeGreaterThan(1000);
        var thumb = await owner.GetAsync(thumbUrl);
        thumb.StatusCode.ShouldBe(HttpStatusCode.OK);
        thumb.Content.Headers.ContentType!.MediaType.ShouldBe("image/png");
        using (var thumbnail = SkiaSharp.SKBitmap.Decode(await thumb.Content.ReadAsByteArrayAsync()))
            (thumbnail.Width, thumbnail.Height).ShouldBe((128, 128));

        var (_, stranger) = await app.SignedInUserAsync();
        (await stranger.GetAsync(imageUrl)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await stranger.GetAsync(thumbUrl)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await app.NewClient().GetAsync(imageUrl)).StatusCode.ShouldNotBe(HttpStatusCode.OK);

        var (_, admin) = await app.SignedInUserAsync(admin: true);
        (await admin.GetAsync(imageUrl)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task SamePromptAndSeed_GiveTheSameBytes()
    {
        var (_, client) = await app.SignedInUserAsync();
        async Task<byte[]> Make()
        {
            var created = await (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "two red foxes", seed = 7 })).Content.ReadFromJsonAsync<JsonElement>();
            return await client.GetByteArrayAsync(created.GetProperty("imageUrl").GetString());
        }
        (await Make()).ShouldBe(await Make());
    }

    [Theory]
    [InlineData("{\"prompt\": \"\"}", "prompt")]
    [InlineData("{\"prompt\": \"   \"}", "prompt")]
    [InlineData("{}", "prompt")]
    [InlineData("{\"prompt\": ", "body")]
    [InlineData("not json", "body")]
    public async Task BadInput_Is400ValidationFailed_NamingTheField_AndStoresNothing(string json, string field)
    {
        var (_, client) = await app.SignedInUserAsync();
        var response = await client.PostAsync("/api/v1/generations", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("code").GetString().ShouldBe("validation_failed");
        problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue(problem.ToString());
        (await client.GetFromJsonAsync<JsonElement>("/api/v1/generations")).GetProperty("data").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task PromptOver1000Characters_Is400()
    {
        var (_, client) = await app.SignedInUserAsync();
        var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = new string('a', 1001) });
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("prompt", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task List_ReturnsOnlyTheCallersOwn_NewestFirst()
    {
        var (_, mine) = await app.SignedInUserAsync();
        var (_, theirs) = await app.SignedInUserAsync();
        await mine.PostAsJsonAsync("/api/v1/generations", new { prompt = "first" });
        await mine.PostAsJsonAsync("/api/v1/generations", new { prompt = "second" });
        await theirs.PostAsJsonAsync("/api/v1/generations", new { prompt = "not yours" });

        var list = await mine.GetFromJsonAsync<JsonElement>("/api/v1/generations");
        list.GetProperty("data").GetArrayLength().ShouldBe(2);
        list.GetProperty("data").EnumerateArray().Select(i => i.GetProperty("prompt").GetString()).ShouldBe(["second", "first"]);
    }
}
