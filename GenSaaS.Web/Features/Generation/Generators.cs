using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using SkiaSharp;

namespace GenSaaS.Web.Features.Generation;

/// <summary>A PNG and its size in pixels.</summary>
public sealed record GeneratedImage(byte[] Png, int Width, int Height);

/// <summary>A generator failed in a way the customer should hear about; the credit is returned.</summary>
public sealed class GenerationFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Makes an image from a prompt. One implementation per <see cref="GeneratorBackend"/>.</summary>
public interface IImageGenerator
{
    Task<GeneratedImage> GenerateAsync(string prompt, long seed, CancellationToken ct);
}

/// <summary>Draws a deterministic 512x512 picture from the prompt and seed: same inputs, same bytes.</summary>
public sealed class BuiltInGenerator : IImageGenerator
{
    public const int Size = 512;

    public Task<GeneratedImage> GenerateAsync(string prompt, long seed, CancellationToken ct)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{seed}:{prompt}"));
        var random = new Random(BitConverter.ToInt32(hash, 0));
        using var surface = SKSurface.Create(new SKImageInfo(Size, Size, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;

        var top = Hue(hash[4], 0.55f, 0.35f);
        var bottom = Hue(hash[5], 0.65f, 0.75f);
        using (var background = new SKPaint())
        {
            background.Shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(Size, Size), [top, bottom], SKShaderTileMode.Clamp);
            canvas.DrawRect(0, 0, Size, Size, background);
        }

        using var paint = new SKPaint { IsAntialias = true };
        var shapes = 12 + hash[6] % 20;
        for (var i = 0; i < shapes; i++)
        {
            ct.ThrowIfCancellationRequested();
            paint.Color = Hue((byte)random.Next(256), 0.7f, 0.5f + (float)random.NextDouble() * 0.3f).WithAlpha((byte)random.Next(90, 200));
            var x = random.Next(Size);
            var y = random.Next(Size);
            var r = random.Next(12, 110);
            if (random.Next(3) == 0)
                canvas.DrawRect(x - r, y - r / 2, r * 2, r, paint);
            else
                canvas.DrawCircle(x, y, r, paint);
        }

        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return Task.FromResult(new GeneratedImage(data.ToArray(), Size, Size));
    }

    private static SKColor Hue(byte seed, float saturation, float lightness) =>
        SKColor.FromHsl(seed * 360f / 256f, saturation * 100f, lightness * 100f);
}

/// <summary>A 1x1 PNG, so benchmarks measure the metering and not the drawing.</summary>
public sealed class NullGenerator : IImageGenerator
{
    private static readonly byte[] _onePixel = Convert.FromBase64String(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=");

    public Task<GeneratedImage> GenerateAsync(string prompt, long seed, CancellationToken ct) =>
        Task.FromResult(new GeneratedImage(_onePixel, 1, 1));
}

/// <summary>An OpenAI-compatible images endpoint asked for <c>b64_json</c>.</summary>
public sealed class HttpGenerator(HttpClient http, IOptions<GenerationOptions> options) : IImageGenerator
{
    public async Task<GeneratedImage> GenerateAsync(string prompt, long seed, CancellationToken ct)
    {
        var settings = options.Value.Http;
        if (string.IsNullOrWhiteSpace(settings.BaseUrl))
            throw new GenerationFailedException("The image service is not configured (Generation:Http:BaseUrl).");

        using var request = new HttpRequestMessage(HttpMethod.Post, settings.BaseUrl.TrimEnd('/') + "/v1/images/generations")
        {
            Content = JsonContent.Create(new { model = settings.Model, prompt, n = 1, size = settings.Size, response_format = "b64_json", seed }),
        };
        if (!string.IsNullOrWhiteSpace(settings.ApiKey))
            request.Headers.Authorization = new("Bearer", settings.ApiKey);

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (HttpRequestException ex)
        {
            throw new GenerationFailedException("The image service could not be reached.", ex);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var body = await response.Content.ReadAsStringAsync(ct);
                throw new GenerationFailedException($"The image service answered {(int)response.StatusCode}: {Truncate(body, 200)}");
            }

            ImagesResponse? payload;
            try
            {
                payload = await response.Content.ReadFromJsonAsync<ImagesResponse>(ct);
            }
            catch (System.Text.Json.JsonException ex)
            {
                throw new GenerationFailedException("The image service sent something that is not JSON.", ex);
            }

            var b64 = payload?.Data?.FirstOrDefault()?.B64Json;
            if (string.IsNullOrEmpty(b64))
                throw new GenerationFailedException("The image service sent no image.");
            byte[] png;
            try
            {
                png = Convert.FromBase64String(b64);
            }
            catch (FormatException ex)
            {
                throw new GenerationFailedException("The image service sent an image that is not base64.", ex);
            }

            using var bitmap = SKBitmap.Decode(png) ?? throw new GenerationFailedException("The image service sent bytes that are not an image.");
            return new GeneratedImage(png, bitmap.Width, bitmap.Height);
        }
    }

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max] + "…";

    private sealed record ImagesResponse([property: JsonPropertyName("data")] List<ImageData>? Data);

    private sealed record ImageData([property: JsonPropertyName("b64_json")] string? B64Json);
}
