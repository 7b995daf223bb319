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
    private volatile bool _down;

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
            if (_down)
                return Results.Json(new { error = new { message = "overloaded" } }, statusCode: 503);
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

    [Fact]
    public async Task FailedGeneration_RetriedWithTheSameIdempotencyKey_IsANewAttempt_NotAReplayOfThe502()
    {
        using var app = NewApp();
        var (user, client) = await app.SignedInUserAsync();
        async Task<HttpResponseMessage> PostAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/generations") { Content = JsonContent.Create(new { prompt = "a kite, eventually" }) };
            request.Headers.Add("Idempotency-Key", "kite-1");
            return await client.SendAsync(request);
        }

        // The service is down for the first request and back for the retry, which carries the same key as a careful client's does.
        _down = true;
        using (var failed = await PostAsync())
            failed.StatusCode.ShouldBe(HttpStatusCode.BadGateway);
        _down = false;
        using var retried = await PostAsync();
        retried.StatusCode.ShouldBe(HttpStatusCode.Created, await retried.Content.ReadAsStringAsync());
        var id = (await retried.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        using var replayed = await PostAsync();
        replayed.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await replayed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString().ShouldBe(id);

        (await client.GetFromJsonAsync<JsonElement>("/api/v1/me")).GetProperty("trialCredits").GetInt64().ShouldBe(1);
        await using var connection = await app.Db.OpenAsync();
        (await Dapper.SqlMapper.QueryAsync<string>(connection, "SELECT state FROM usage WHERE user_id = @Id ORDER BY created_at", user)).ShouldBe(["released", "succeeded"]);
        (await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, "SELECT count(*) FROM generations WHERE user_id = @Id", user)).ShouldBe(1);
    }
}
