using System.Reflection;
using System.Text.Json.Nodes;
using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace GenSaaS.Web.Features.Shared;

/// <summary>
/// The API's machine-readable description, <c>/openapi/v1.json</c> (built by Microsoft.AspNetCore.OpenApi from the endpoints
/// themselves), and its human reference, <c>/api/docs</c> (Scalar, served from the app: no CDN, no fonts or telemetry from
/// elsewhere). An endpoint under <c>/api/v1</c> says what it does with <c>WithSummary</c>/<c>WithTags</c>, what it takes and
/// answers with <c>Accepts</c>/<c>Produces</c>, and which problems it can answer with <see cref="ApiDocsEndpointExtensions.Problems"/>;
/// what every authenticated route shares (the API key scheme and its scope, <c>401 unauthenticated</c>,
/// <c>403 insufficient_scope</c>, the query guard's <c>400 validation_failed</c>, the <c>RateLimit-*</c> headers) is added
/// here, once. <c>docs/api.md</c> stays the reference in prose; tests hold the two and the endpoints together.
/// </summary>
public static class ApiDocs
{
    public const string DocumentName = "v1";
    public const string DocumentPath = "/openapi/v1.json";
    public const string ReferencePath = "/api/docs";

    /// <summary>The security scheme every authenticated operation names: a personal API key as a bearer token.</summary>
    public const string ApiKeyScheme = "ApiKey";

    /// <summary>The component every problem answer points at: <c>application/problem+json</c> with the stable <c>code</c>.</summary>
    public const string ProblemSchema = "Problem";

    public const string ProblemContentType = "application/problem+json";

    /// <summary>Routes the document describes: the JSON API and the image files it links to; not pages, webhooks or the emulator.</summary>
    public static bool Describes(string? relativePath) =>
        relativePath is not null && (relativePath.StartsWith("api/v1/", StringComparison.Ordinal) || relativePath == "api/v1"
            || relativePath.StartsWith("images/", StringComparison.Ordinal));

    public static WebApplicationBuilder AddApiDocs(this WebApplicationBuilder builder)
    {
        builder.Services.AddOpenApi(DocumentName, options =>
        {
            options.ShouldInclude = description => Describes(description.RelativePath);
            options.AddDocumentTransformer((document, context, _) =>
            {
                Describe(document);
                // Behind a proxy the request's own address is not the one clients use: name the configured public address.
                if (context.ApplicationServices.GetService<PublicAddress>()?.Configured is { } publicBaseUrl)
                    document.Servers = [new OpenApiServer { Url = publicBaseUrl }];
                return Task.CompletedTask;
            });
            options.AddOperationTransformer((operation, context, _) =>
            {
                DescribeOperation(operation, context);
                return Task.CompletedTask;
            });
        });
        return builder;
    }

    public static WebApplication MapApiDocs(this WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
        app.MapScalarApiReference(ReferencePath, options => options
                .WithTitle("GenSaaS API reference")
                .WithOpenApiRoutePattern("/openapi/{documentName}.json")
                .AddDocument(DocumentName, "GenSaaS API v1")
                .AddPreferredSecuritySchemes(ApiKeyScheme)
                .DisableDefaultFonts()
                .DisableTelemetry()
                .DisableAgent()
                .DisableMcp()
                .HideDeveloperTools()
                .AddHeadContent("<script src=\"/js/api-reference.js\"></script><link rel=\"stylesheet\" href=\"/css/api-reference.css\" />")
                .AddHeaderContent(ReferenceBar)
                .ExpandAllTags()
                // The page's one inline script carries a fresh nonce; SecurityHeaders allows that nonce and nothing else.
                .WithNonce())
            .AllowAnonymous();
        return app;
    }

    /// <summary>The way back into the site from the reference, which Scalar draws without the site's layout.</summary>
    private const string ReferenceBar =
        "<header class=\"api-reference-bar\" data-testid=\"api-reference-bar\"><a class=\"brand\" href=\"/\">GenSaaS</a><nav>"
        + "<a href=\"/dashboard\">Dashboard</a><a href=\"/account/api-keys\">API keys</a><a href=\"/openapi/v1.json\">OpenAPI document</a></nav></header>";

    /// <summary>The nonce Scalar put on this answer's scripts, if the answer is the API reference.</summary>
    public static string? ReferenceNonce(HttpContext http) => http.Items[ScalarOptions.NonceHttpContextItemKey] as string;

    private static void Describe(OpenApiDocument document)
    {
        document.Info = new OpenApiInfo
        {
            Title = "GenSaaS API",
            Version = DocumentName,
            Description = "Generate images, read their history and the account's billing. Send a personal API key as "
                + "`Authorization: Bearer gsk_…` (made at /account/api-keys). Errors are `application/problem+json` with a stable "
                + "`code`. Authenticated answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (the "
                + "generations-per-minute window); only `POST /api/v1/generations` takes from it.",
        };
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[ApiKeyScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "gsk_…",
            Description = "A personal API key. Its scopes (generate, read, delete, billing, admin) decide which routes it may call; a "
                + "signed-in browser session may call every route and needs the page's antiforgery token or X-Requested-With on POST and DELETE.",
        };
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        document.Components.Schemas[ProblemSchema] = Problem();
        document.Components.Headers ??= new Dictionary<string, IOpenApiHeader>();
        foreach (var (name, description, type) in RateLimitHeaders)
            document.Components.Headers[name] = new OpenApiHeader { Description = description, Schema = new OpenApiSchema { Type = type } };
    }

    /// <summary>The shape of every error: RFC 9457 problem details plus the stable <c>code</c> clients switch on.</summary>
    private static OpenApiSchema Problem() => new()
    {
        Type = JsonSchemaType.Object,
        Description = "RFC 9457 problem details with a stable `code`.",
        Required = new HashSet<string> { "type", "title", "status", "code" },
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["type"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "`https://gensaas.dev/problems/{code}`" },
            ["title"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "For people; may change." },
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" },
            ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String | JsonSchemaType.Null },
            ["code"] = new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Description = "The stable error code; see docs/api.md for when each is answered.",
                Enum = AllCodes().Select(c => (JsonNode)JsonValue.Create(c)!).ToList(),
            },
            ["errors"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Description = "On field errors: the field or parameter, with what is wrong with it.",
                AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
            },
            ["traceId"] = new OpenApiSchema { Type = JsonSchemaType.String },
        },
    };

    /// <summary>Every constant of <see cref="ProblemCodes"/>.</summary>
    public static IReadOnlyList<string> AllCodes() =>
        typeof(ProblemCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f is { IsLiteral: true, FieldType.Name: nameof(String) })
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToList();

    private static void DescribeOperation(OpenApiOperation operation, OpenApiOperationTransformerContext context)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var problems = metadata.OfType<ProblemResponses>().ToList();
        var authenticated = metadata.OfType<IAuthorizeData>().Any() && !metadata.OfType<IAllowAnonymous>().Any();
        if (authenticated)
        {
            var scopes = metadata.OfType<IAuthorizeData>()
                .Select(a => a.Policy)
                .OfType<string>()
                .Where(p => p.StartsWith(ApiKeyScopes.Policy(""), StringComparison.Ordinal))
                .Select(p => p[ApiKeyScopes.Policy("").Length..])
                .Distinct()
                .ToList();
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyScheme, context.Document)] = scopes }];
            if (scopes.Count > 0)
                operation.Description = Join(operation.Description, $"API key scope: `{string.Join("`, `", scopes)}`.");
            problems.Add(new(StatusCodes.Status401Unauthorized, [ProblemCodes.Unauthenticated]));
            if (scopes.Count > 0)
                problems.Add(new(StatusCodes.Status403Forbidden, [ProblemCodes.InsufficientScope]));
            // A role, or a policy other than a key's scope (an administrator's route): a caller without it is refused.
            if (metadata.OfType<IAuthorizeData>().Any(a => !string.IsNullOrEmpty(a.Roles)
                    || a.Policy is { } policy && !policy.StartsWith(ApiKeyScopes.Policy(""), StringComparison.Ordinal)))
                problems.Add(new(StatusCodes.Status403Forbidden, [ProblemCodes.Forbidden]));
            problems.Add(new(StatusCodes.Status400BadRequest, [ProblemCodes.ValidationFailed]));
        }
        if (metadata.OfType<EnableRateLimitingAttribute>().Any())
            problems.Add(new(StatusCodes.Status429TooManyRequests, [ProblemCodes.RateLimited]));

        operation.Responses ??= new OpenApiResponses();
        foreach (var group in problems.GroupBy(p => p.Status).OrderBy(g => g.Key))
        {
            var codes = group.SelectMany(p => p.Codes).Distinct().ToList();
            var key = group.Key.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var response = operation.Responses.TryGetValue(key, out var existing) && existing is OpenApiResponse known ? known : new OpenApiResponse();
            response.Description = $"Problem: `{string.Join("`, `", codes)}`.";
            response.Content ??= new Dictionary<string, OpenApiMediaType>();
            response.Content.Clear();
            response.Content[ProblemContentType] = new OpenApiMediaType { Schema = new OpenApiSchemaReference(ProblemSchema, context.Document) };
            operation.Responses[key] = response;
        }

        // As GenerationRateLimit.UseRateLimitHeaders sends them: on every authenticated answer under /api/v1.
        if (!authenticated || context.Description.RelativePath?.StartsWith("api/v1", StringComparison.Ordinal) != true)
            return;
        foreach (var (status, response) in operation.Responses)
        {
            if (status == "401" || response is not OpenApiResponse answer)
                continue;
            answer.Headers ??= new Dictionary<string, IOpenApiHeader>();
            foreach (var (name, _, _) in RateLimitHeaders)
                answer.Headers[name] = new OpenApiHeaderReference(name, context.Document);
        }
    }

    private static readonly (string Name, string Description, JsonSchemaType Type)[] RateLimitHeaders =
    [
        ("RateLimit-Limit", "Generations the caller's plan allows per minute.", JsonSchemaType.Integer),
        ("RateLimit-Remaining", "Generations left in the current one-minute sliding window; only a generation takes one.", JsonSchemaType.Integer),
        ("RateLimit-Reset", "Seconds until the oldest generation in the window stops counting (at least 1).", JsonSchemaType.Integer),
        ("RateLimit-Policy", "The window: `{limit};w=60`.", JsonSchemaType.String),
    ];

    private static string Join(string? first, string second) => string.IsNullOrEmpty(first) ? second : first + "\n\n" + second;
}

/// <summary>Which problem codes an endpoint can answer with, under one status; read by <see cref="ApiDocs"/>.</summary>
public sealed record ProblemResponses(int Status, IReadOnlyList<string> Codes);

public static class ApiDocsEndpointExtensions
{
    /// <summary>
    /// Declares that the endpoint can answer <paramref name="status"/> with these problem codes (constants of
    /// <see cref="ProblemCodes"/>); call once per status. The 401, 403 and 400 every authenticated route can answer are added
    /// for you.
    /// </summary>
    public static TBuilder Problems<TBuilder>(this TBuilder builder, int status, params string[] codes) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ProblemResponses(status, codes));

    /// <summary>Documents Stripe's list parameters on a cursor-paged list (the handler reads them from the query itself).</summary>
    public static TBuilder CursorPaged<TBuilder>(this TBuilder builder, string idName) where TBuilder : IEndpointConventionBuilder =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = "limit",
                In = ParameterLocation.Query,
                Description = "How many to answer, 1 to 100 (default 10).",
                Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1", Maximum = "100", Default = JsonValue.Create(10) },
            });
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = "starting_after",
                In = ParameterLocation.Query,
                Description = $"The id of the last {idName} of the previous page; the answer starts with the next older one.",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            });
            return Task.CompletedTask;
        });

    /// <summary>Documents a request header the handler reads itself (e.g. <c>Idempotency-Key</c>).</summary>
    public static TBuilder Header<TBuilder>(this TBuilder builder, string name, string description) where TBuilder : IEndpointConventionBuilder =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = name,
                In = ParameterLocation.Header,
                Description = description,
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            });
            return Task.CompletedTask;
        });
}
