using System.Diagnostics;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Shared;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Generation;

/// <summary>What a generation request came to: the image, or a stable error code and a message for the customer.</summary>
public sealed record GenerationOutcome(GenerationRecord? Generation, int Status, string? ErrorCode, string? ErrorMessage, string? Field = null)
{
    public bool Succeeded => Generation is not null;

    public static GenerationOutcome Success(GenerationRecord generation, int status = StatusCodes.Status201Created) => new(generation, status, null, null);

    public static GenerationOutcome Fail(int status, string code, string message, string? field = null) => new(null, status, code, message, field);
}

/// <summary>The one path a generation takes: validate, generate, store.</summary>
public sealed class GenerationService(
    Db db,
    IImageGenerator generator,
    ImageStore images,
    IOptions<GenerationOptions> options,
    TimeProvider clock,
    ILogger<GenerationService> logger)
{
    public string? Validate(string? prompt)
    {
        if (string.IsNullOrWhiteSpace(prompt))
            return "Enter a prompt.";
        if (prompt.Length > options.Value.MaxPromptLength)
            return $"The prompt is {prompt.Length} characters; at most {options.Value.MaxPromptLength} are allowed.";
        return null;
    }

    public async Task<GenerationOutcome> GenerateAsync(string userId, string? prompt, long? seed, CancellationToken ct)
    {
        if (Validate(prompt) is { } problem)
            return GenerationOutcome.Fail(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, problem, "prompt");
        prompt = prompt!.Trim();

        var id = Guid.CreateVersion7().ToString("N");
        var actualSeed = seed ?? Random.Shared.NextInt64(0, int.MaxValue);
        var watch = Stopwatch.StartNew();
        GeneratedImage image;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(options.Value.TimeoutSeconds));
            image = await generator.GenerateAsync(prompt, actualSeed, timeout.Token);
            await images.SaveAsync(userId, id, image, timeout.Token);
        }
        catch (Exception ex) when (ex is GenerationFailedException or OperationCanceledException or HttpRequestException)
        {
            logger.LogWarning(ex, "Generation {GenerationId} for {UserId} failed", id, userId);
            var message = ex switch
            {
                GenerationFailedException failed => failed.Message,
                OperationCanceledException when !ct.IsCancellationRequested => "The image took too long to make.",
                _ => "The image could not be made.",
            };
            return GenerationOutcome.Fail(StatusCodes.Status502BadGateway, ProblemCodes.GenerationFailed, message + " Nothing was charged.");
        }

        var record = new GenerationRecord(id, userId, prompt, actualSeed, options.Value.Backend.ToString(), image.Width, image.Height,
            watch.ElapsedMilliseconds, clock.GetUtcNow().UtcDateTime);
        await using (var connection = await db.OpenAsync(ct))
        await using (var tx = connection.BeginTransaction())
        {
            await GenerationStore.InsertAsync(connection, tx, record);
            await tx.CommitAsync(ct);
        }

        logger.LogInformation("Generation {GenerationId} for {UserId} made in {DurationMs} ms", id, userId, record.DurationMs);
        return GenerationOutcome.Success(record);
    }
}
