using System.Security.Claims;
using System.Text.Json;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Features.Generation;

/// <summary><c>/api/v1/generations</c> and the image files, served only to their owner and admins.</summary>
public static class GenerationApi
{
    public sealed record CreateRequest(string? Prompt, long? Seed);

    public sealed record GenerationDto(string Id, string Prompt, long Seed, int Width, int Height, string ImageUrl, string ThumbnailUrl, DateTime CreatedAt, long DurationMs)
    {
        [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
        public string? Warning { get; init; }

        /// <summary>On a <c>201</c> only: what is left to generate with once this image is paid for.</summary>
        [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
        public Billing.BillingApi.BalanceDto? Balance { get; init; }
    }

    public static GenerationDto ToDto(GenerationRecord g) =>
        new(g.Id, g.Prompt, g.Seed, (int)g.Width, (int)g.Height, ImageUrl(g.Id), ThumbnailUrl(g.Id), g.CreatedAt, g.DurationMs);

    public static string ImageUrl(string id) => $"/images/{id}.png";

    public static string ThumbnailUrl(string id) => $"/images/{id}/thumb.png";

    public static void Map(WebApplication app)
    {
        var api = app.MapGroup("/api/v1/generations").RequireAuthorization().WithTags("Generations");
        api.MapPost("", Create).RequireRateLimiting(GenerationRateLimit.Policy).RequireAuthorization(ApiKeyScopes.Policy(ApiKeyScopes.Generate))
            .WithSummary("Generate an image")
            .WithDescription("Pays for the image (plan, credits or the saved card, in that order), makes it and answers it with the balance left. "
                + "A repeated Idempotency-Key answers the first result (`Idempotent-Replayed: true`) and charges nothing again.")
            .Accepts<CreateRequest>("application/json")
            .Produces<GenerationDto>(StatusCodes.Status201Created)
            .Header("Idempotency-Key", "Any string up to 255 characters; a retry with the same key and body answers the first result.")
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed)
            .Problems(StatusCodes.Status402PaymentRequired, ProblemCodes.InsufficientCredits, ProblemCodes.PaymentFailed,
                ProblemCodes.SubscriptionInactive, ProblemCodes.SpendLimitReached)
            .Problems(StatusCodes.Status409Conflict, ProblemCodes.IdempotencyConflict)
            .Problems(StatusCodes.Status410Gone, ProblemCodes.GenerationDeleted)
            .Problems(StatusCodes.Status413PayloadTooLarge, ProblemCodes.BadRequest)
            .Problems(StatusCodes.Status429TooManyRequests, ProblemCodes.RateLimited, ProblemCodes.FairUseLimit)
            .Problems(StatusCodes.Status502BadGateway, ProblemCodes.GenerationFailed)
            .Problems(StatusCodes.Status503ServiceUnavailable, ProblemCodes.PaymentUnavailable, ProblemCodes.BillingDisabled, ProblemCodes.GenerationDisabled)
            .Problems(StatusCodes.Status504GatewayTimeout, ProblemCodes.GenerationFailed);
        api.MapGet("", List).RequireAuthorization(ApiKeyScopes.Policy(ApiKeyScopes.Read))
            .WithSummary("List generations, newest first")
            .WithDescription("Cursor-paged as Stripe's lists are: follow `has_more` with `starting_after` set to the last id of `data`.")
            .CursorPaged("generation")
            .Produces<ListDto>()
            .Problems(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, ProblemCodes.ResourceMissing, ProblemCodes.ParameterUnknown);
        api.MapGet("/{id}", Get).RequireAuthorization(ApiKeyScopes.Policy(ApiKeyScopes.Read))
            .WithSummary("Get one generation")
            .Produces<GenerationDto>()
            .Problems(StatusCodes.Status404NotFound, ProblemCodes.NotFound);
        api.MapDelete("/{id}", Delete).RequireAuthorization(ApiKeyScopes.Policy(ApiKeyScopes.Delete))
            .WithSummary("Delete a generation and its image")
            .WithDescription("The credit or charge that paid for it stays spent.")
            .Produces<DeletedDto>()
            .Problems(StatusCodes.Status404NotFound, ProblemCodes.NotFound);

        var files = app.MapGroup("/images").WithTags("Images");
        files.MapGet("/{id}.png", (string id, ClaimsPrincipal user, GenerationStore store, ImageStore images, CancellationToken ct) =>
                ServeImage(id, thumbnail: false, user, store, images, ct)).RequireAuthorization(ApiKeyScopes.Policy(ApiKeyScopes.Read))
            .WithSummary("The full image (owner or administrator)")
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .Produces(StatusCodes.Status404NotFound);
        files.MapGet("/{id}/thumb.png", (string id, ClaimsPrincipal user, GenerationStore store, ImageStore images, CancellationToken ct) =>
                ServeImage(id, thumbnail: true, user, store, images, ct)).RequireAuthorization(ApiKeyScopes.Policy(ApiKeyScopes.Read))
            .WithSummary("The thumbnail, at most 128 × 128 (owner or administrator)")
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .Produces(StatusCodes.Status404NotFound);
        files.MapGet("/{id}/download", Download).RequireAuthorization(ApiKeyScopes.Policy(ApiKeyScopes.Read))
            .WithSummary("The full image as a file to save (owner only)")
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .Produces(StatusCodes.Status404NotFound);
    }

    public static string DownloadUrl(string id) => $"/images/{id}/download";

    private static async Task<IResult> Create(HttpRequest request, ClaimsPrincipal user, GenerationService generations,
        Billing.AccountSummaries summaries, CancellationToken ct)
    {
        if (!request.HasJsonContentType())
            return Problems.Validation("body", "Send a JSON body with Content-Type: application/json.");
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(request.Body, cancellationToken: ct);
        }
        catch (JsonException)
        {
            return Problems.Validation("body", "The body is not valid JSON. Send { \"prompt\": \"...\" }.");
        }
        using (document)
        {
            var (body, field, message) = ReadCreateRequest(document.RootElement);
            if (body is null)
                return Problems.Validation(field!, message!);
            var outcome = await generations.GenerateAsync(UserId(user), body.Prompt, body.Seed, request.Headers["Idempotency-Key"].FirstOrDefault(), ct);
            // Read after the completion committed: one consistent snapshot of the balances, this generation's charge included.
            var balance = outcome.Succeeded ? Billing.BillingApi.Balance(await summaries.GetAsync(UserId(user), ct)) : null;
            return ToResult(outcome, request.HttpContext, balance);
        }
    }

    /// <summary>
    /// Reads the body by hand so that an unknown field (a client that thinks it can send <c>width</c>) or a wrong type is refused
    /// before anything is charged, naming the field, and no error message carries the name of a .NET type.
    /// </summary>
    private static (CreateRequest? Body, string? Field, string? Message) ReadCreateRequest(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            return (null, "body", "Send a JSON object: { \"prompt\": \"...\" }.");
        string? prompt = null;
        long? seed = null;
        foreach (var property in root.EnumerateObject())
        {
            if (string.Equals(property.Name, "prompt", StringComparison.OrdinalIgnoreCase))
            {
                if (property.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                    return (null, "prompt", "'prompt' must be a string.");
                prompt = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : null;
            }
            else if (string.Equals(property.Name, "seed", StringComparison.OrdinalIgnoreCase))
            {
                if (property.Value.ValueKind == JsonValueKind.Null)
                    seed = null;
                else if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt64(out var whole))
                    return (null, "seed", "'seed' must be a whole number of at most 19 digits.");
                else
                    seed = whole;
            }
            else
            {
                return (null, property.Name, $"'{property.Name}' is not a field of this request; send only 'prompt' and 'seed'.");
            }
        }
        return (new CreateRequest(prompt, seed), null, null);
    }

    public static IResult ToResult(GenerationOutcome outcome, HttpContext http, Billing.BillingApi.BalanceDto? balance = null)
    {
        if (outcome.Replayed)
            http.Response.Headers["Idempotent-Replayed"] = "true";
        if (outcome.RetryAt is { } retryAt)
            http.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling((retryAt - DateTime.UtcNow).TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (outcome.Generation is { } g)
            return Results.Created($"/api/v1/generations/{g.Id}", ToDto(g) with { Warning = outcome.Warning, Balance = balance });
        if (outcome.Field is { } field)
            return Problems.Result(outcome.Status, outcome.ErrorCode!, "The request is not valid.", outcome.ErrorMessage,
                new Dictionary<string, string[]> { [field] = [outcome.ErrorMessage!] });
        var problem = Problems.Create(outcome.Status, outcome.ErrorCode!, outcome.ErrorMessage!, outcome.ErrorMessage);
        // A card to fix: where the customer does it (the billing page opens Stripe's portal, where the bank can ask them to confirm the card).
        if (outcome.ErrorCode is ProblemCodes.PaymentFailed or ProblemCodes.SubscriptionInactive)
            problem.Extensions["update_card_url"] = Billing.Index.UpdateCardUrl;
        return Results.Problem(problem);
    }

    /// <summary>The query parameters of the list; anything else is refused, as Stripe refuses unknown parameters.</summary>
    private static readonly string[] ListParameters = ["limit", "starting_after"];

    public const int DefaultLimit = 10;

    /// <summary>
    /// Stripe's list contract: <c>limit</c> 1-100 (default 10; its range and type are checked for every request by
    /// <see cref="QueryGuard"/>), <c>starting_after</c> the id of the last generation of the previous page, newest first.
    /// </summary>
    private static async Task<IResult> List(HttpRequest request, ClaimsPrincipal user, GenerationStore store, CancellationToken ct)
    {
        if (request.Query.Keys.FirstOrDefault(k => !ListParameters.Contains(k, StringComparer.Ordinal)) is { } unknown)
            return Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ParameterUnknown, "The request is not valid.",
                $"Received unknown parameter: {unknown}. This list takes 'limit' (1-100) and 'starting_after' (a generation id).",
                new Dictionary<string, string[]> { [unknown] = ["Unknown parameter."] });
        var limit = int.TryParse(request.Query["limit"], System.Globalization.NumberStyles.AllowLeadingSign,
            System.Globalization.CultureInfo.InvariantCulture, out var given) ? given : DefaultLimit;
        var startingAfter = request.Query["starting_after"].ToString() is { Length: > 0 } after ? after : null;
        var page = await store.ListAsync(UserId(user), limit, startingAfter, ct);
        if (page is null)
            return NoSuchGeneration(startingAfter!);
        return Results.Ok(new ListDto("list", "/api/v1/generations", page.Data.Select(ToDto).ToList(), page.HasMore));
    }

    public sealed record ListDto(string Object, string Url, IReadOnlyList<GenerationDto> Data,
        [property: System.Text.Json.Serialization.JsonPropertyName("has_more")] bool HasMore);

    /// <summary>Unknown, deleted and other customers' ids get the same answer, so an id cannot be probed.</summary>
    private static IResult NoSuchGeneration(string startingAfter) =>
        Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ResourceMissing, "The request is not valid.",
            $"No such generation: '{startingAfter}'. Pass the id of the last generation of the previous page.",
            new Dictionary<string, string[]> { ["starting_after"] = ["No such generation."] });

    /// <summary>
    /// Deletes the image and its generation; the usage row and ledger line stay, so the credit stays spent. Another
    /// customer's id answers 404, like an unknown one, so ids cannot be probed. Answers as Stripe's deletes do.
    /// </summary>
    private static async Task<IResult> Delete(string id, ClaimsPrincipal user, GenerationStore store, ImageStore images, CancellationToken ct)
    {
        var userId = UserId(user);
        if (!await store.DeleteAsync(userId, id, ct))
            return Problems.Result(StatusCodes.Status404NotFound, ProblemCodes.NotFound, "No such generation.");
        images.Delete(userId, id);
        return Results.Ok(new DeletedDto(id, "generation", Deleted: true));
    }

    public sealed record DeletedDto(string Id, string Object, bool Deleted);

    /// <summary>The full image as a file to save, for its owner only (an admin may view it, not download it as theirs).</summary>
    private static async Task<IResult> Download(string id, ClaimsPrincipal user, GenerationStore store, ImageStore images, CancellationToken ct)
    {
        var generation = await store.GetAsync(id, ct);
        if (generation is null || generation.UserId != UserId(user))
            return Results.NotFound();
        var name = $"gensaas-{generation.Id}.png";
        return await images.ReadAsync(generation, thumbnail: false, ct) switch
        {
            { Bytes: { } png } => Results.File(png, "image/png", name),
            { File: { } file } => Results.File(file, "image/png", name, enableRangeProcessing: false),
            _ => Results.NotFound(),
        };
    }

    private static async Task<IResult> Get(string id, ClaimsPrincipal user, GenerationStore store, CancellationToken ct)
    {
        var generation = await store.GetAsync(id, ct);
        return generation is not null && CanSee(user, generation)
            ? Results.Ok(ToDto(generation))
            : Problems.Result(StatusCodes.Status404NotFound, ProblemCodes.NotFound, "No such generation.");
    }

    private static async Task<IResult> ServeImage(string id, bool thumbnail, ClaimsPrincipal user, GenerationStore store, ImageStore images, CancellationToken ct)
    {
        var generation = await store.GetAsync(id, ct);
        if (generation is null || !CanSee(user, generation))
            return Results.NotFound();
        return await images.ReadAsync(generation, thumbnail, ct) switch
        {
            { Bytes: { } png } => Results.Bytes(png, "image/png"),
            { File: { } file } => Results.File(file, "image/png", enableRangeProcessing: false),
            _ => Results.NotFound(),
        };
    }

    private static bool CanSee(ClaimsPrincipal user, GenerationRecord generation) =>
        generation.UserId == UserId(user) || user.IsInRole(Roles.Admin);

    public static string UserId(ClaimsPrincipal user) =>
        user.FindFirstValue(ClaimTypes.NameIdentifier) ?? throw new InvalidOperationException("Signed-in user without an id");
}
