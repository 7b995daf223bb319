using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GenSaaS.Web.Features.Generation;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace GenSaaS.Web.Tests.Features.Generation;

/// <summary>The Http backend against a stand-in for an OpenAI-compatible images service on a loopback port.</summary>
public sealed class HttpBackendTests : IAsyncLifetime
{
    private WebApplication _imageService = null!;
    private string? _seenAuthorization;
    private JsonElement _seenBody;
    private byte[] _png = [];

    public async Task InitializeAsync()
    {
        _png = (await new BuiltInGenerator().GenerateAsync("stand-in", 1, CancellationToken.None)).Png;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _imageService = builder.Build();
        _imageService.MapPost("/v1/images/generations", async (HttpRequest request) =>
        {
            _seenAuthorization = request.Headers.Authorization;
            _seenBody = await request.ReadFromJsonAsync<JsonElement>();
            var prompt = _seenBody.GetProperty("prompt").GetString();
            return prompt == "please fail"
                ? Results.Json(new { error = new { message = "content policy" } }, statusCode: 400)
                : Results.Json(new { created = 1, data = new[] { new { b64_json = Convert.ToBase64String(_png) } } });
        });
        await _imageService.StartAsync();
    }

    public async Task DisposeAsync() => await _imageService.DisposeAsync();

    private TestApp NewApp() => new(new()
    {
        ["Generation:Backend"] = "Http",
        ["Generation:Http:BaseUrl"] = _imageService.Urls.Single(),
        ["Generation:Http:ApiKey"] = "test-key-not-secret",
        ["Credits:TrialCredits"] = "2",
    });

    [Fact]
    public async Task Generation_ComesFromTheService_WithKeyAndPrompt_AndIsStoredWithAThumbnail()
    {
        using var app = NewApp();
        var (_, client) = await app.SignedInUserAsync();
        using var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "a tide pool", seed = 5 });
        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();

        _seenAuthorization.ShouldBe("Bearer test-key-not-secret");
        _seenBody.GetProperty("prompt").GetString().ShouldBe("a tide pool");
        _seenBody.GetProperty("response_format").GetString().ShouldBe("b64_json");
        (await client.GetByteArrayAsync(body.GetProperty("imageUrl").GetString())).ShouldBe(_png);
        var thumbnail = await client.GetByteArrayAsync(body.GetProperty("thumbnailUrl").GetString());
        using var bitmap = SkiaSharp.SKBitmap.Decode(thumbnail);
        bitmap.Width.ShouldBe(ImageStore.ThumbnailSize);
    }

    [Fact]
    public async Task ServiceError_Is502WithItsReason_AndTheCreditComesBack()
    {
        using var app = NewApp();
        var (_, client) = await app.SignedInUserAsync();
        using var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "please fail" });
        response.StatusCode.ShouldBe(HttpStatusCode.BadGateway);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("code").GetString().ShouldBe("generation_failed");
        problem.GetProperty("detail").GetString().ShouldNotBeNull().ShouldContain("content policy");
        (await client.GetFromJsonAsync<JsonElement>("/api/v1/me")).GetProperty("trialCredits").GetInt64().ShouldBe(2);
    }
}
