using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Shared;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Shared;

/// <summary>
/// The API describes itself: <c>/openapi/v1.json</c> names every <c>/api/v1</c> route the app serves, with what it does, what it
/// takes and answers, the problems it can answer and the key it needs; <c>/api/docs</c> renders it from the app's own files.
/// </summary>
public sealed class OpenApiTests(ProductionApp app) : IClassFixture<ProductionApp>
{
    /// <summary>Every route under /api/v1 the app serves, as "METHOD /pattern", read from the app's endpoints.</summary>
    internal static IReadOnlyList<string> ApiRoutes(TestApp app)
    {
        _ = app.BaseAddress;
        return app.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } raw && ("/" + raw.TrimStart('/')).StartsWith("/api/v1", StringComparison.Ordinal))
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["ANY"])
                .Select(m => $"{m} /{e.RoutePattern.RawText!.Trim('/')}"))
            .Distinct()
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private async Task<JsonElement> DocumentAsync()
    {
        var response = await app.NewCrossSiteClient().GetAsync(ApiDocs.DocumentPath);
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/json");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    [Fact]
    public async Task Document_IsOpenApi31_AndNamesEveryApiRouteTheAppServes()
    {
        var document = await DocumentAsync();
        document.GetProperty("openapi").GetString()!.ShouldStartWith("3.1");
        document.GetProperty("info").GetProperty("title").GetString().ShouldBe("GenSaaS API");
        // The address clients use, not whatever Host header this request came with.
        document.GetProperty("servers").EnumerateArray().Select(s => s.GetProperty("url").GetString()).ShouldBe([TestApp.ProductionPublicBaseUrl]);

        var documented = document.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Select(o => $"{o.Name.ToUpperInvariant()} {p.Name}"))
            .ToHashSet(StringComparer.Ordinal);
        var routes = ApiRoutes(app);
        routes.ShouldContain("POST /api/v1/generations");
        routes.ShouldContain("GET /api/v1/me");
        routes.Where(r => !documented.Contains(r)).ShouldBeEmpty("routes the app serves that /openapi/v1.json does not name");
        // Nothing but the API and its image files: no pages, webhooks, checkout forms or the Stripe emulator.
        documented.Where(d => !Regex.IsMatch(d, "^[A-Z]+ /(api/v1|images)/")).ShouldBeEmpty();
    }

    [Fact]
    public async Task EveryApiOperation_HasASummary_Schemas_ItsProblems_AndTheKeyItNeeds()
    {
        var document = await DocumentAsync();
        var schemes = document.GetProperty("components").GetProperty("securitySchemes");
        schemes.GetProperty(ApiDocs.ApiKeyScheme).GetProperty("type").GetString().ShouldBe("http");
        schemes.GetProperty(ApiDocs.ApiKeyScheme).GetProperty("scheme").GetString().ShouldBe("bearer");
        var codes = document.GetProperty("components").GetProperty("schemas").GetProperty(ApiDocs.ProblemSchema)
            .GetProperty("properties").GetProperty("code").GetProperty("enum").EnumerateArray().Select(c => c.GetString()).ToList();
        codes.ShouldBe(ApiDocs.AllCodes(), ignoreOrder: true);

        foreach (var path in document.GetProperty("paths").EnumerateObject().Where(p => p.Name.StartsWith("/api/v1", StringComparison.Ordinal)))
        {
            foreach (var operation in path.Value.EnumerateObject())
            {
                var name = $"{operation.Name.ToUpperInvariant()} {path.Name}";
                var op = operation.Value;
                op.TryGetProperty("summary", out var summary).ShouldBeTrue($"{name} has no summary");
                summary.GetString().ShouldNotBeNullOrWhiteSpace(name);
                op.GetProperty("tags").GetArrayLength().ShouldBeGreaterThan(0, name);
                // A POST may be an action without a body (cancel, resume); a PUT or PATCH always sends what it sets.
                if (operation.Name is "put" or "patch")
                    op.TryGetProperty("requestBody", out _).ShouldBeTrue($"{name} names no request body");

                var responses = op.GetProperty("responses").EnumerateObject().ToDictionary(r => r.Name, r => r.Value);
                var success = responses.Where(r => r.Key.StartsWith('2')).ToList();
                success.ShouldNotBeEmpty($"{name} names no success answer");
                foreach (var (status, answer) in success)
                    answer.GetProperty("content").GetProperty("application/json").GetProperty("schema").ValueKind
                        .ShouldBe(JsonValueKind.Object, $"{name} {status}: a success answer without a JSON schema");
                foreach (var (status, response) in responses.Where(r => r.Key[0] is '4' or '5'))
                {
                    response.GetProperty("content").GetProperty(ApiDocs.ProblemContentType).GetProperty("schema").GetProperty("$ref").GetString()
                        .ShouldBe($"#/components/schemas/{ApiDocs.ProblemSchema}", $"{name} {status}");
                    // Each problem answer names its codes, and only codes clients can switch on.
                    var named = Regex.Matches(response.GetProperty("description").GetString()!, "`([a-z_]+)`").Select(m => m.Groups[1].Value).ToList();
                    named.ShouldNotBeEmpty($"{name} {status} names no code");
                    named.Where(c => !codes.Contains(c)).ShouldBeEmpty($"{name} {status} names codes ProblemCodes does not have");
                }
                responses["401"].GetProperty("description").GetString()!.ShouldContain("`unauthenticated`");
                responses["400"].GetProperty("description").GetString()!.ShouldContain("`validation_failed`", customMessage: name);
                var security = op.GetProperty("security").EnumerateArray().Single();
                security.GetProperty(ApiDocs.ApiKeyScheme).GetArrayLength().ShouldBe(1, $"{name} names its one scope");
                responses["403"].GetProperty("description").GetString()!.ShouldContain("`insufficient_scope`");
                responses[success[0].Key].GetProperty("headers").GetProperty("RateLimit-Remaining").GetProperty("$ref").GetString()
                    .ShouldBe("#/components/headers/RateLimit-Remaining");
            }
        }

        var create = document.GetProperty("paths").GetProperty("/api/v1/generations").GetProperty("post");
        create.GetProperty("security")[0].GetProperty(ApiDocs.ApiKeyScheme)[0].GetString().ShouldBe("generate");
        create.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString()
            .ShouldBe("#/components/schemas/CreateRequest");
        create.GetProperty("responses").GetProperty("402").GetProperty("description").GetString()!.ShouldContain("`insufficient_credits`");
        create.GetProperty("responses").GetProperty("429").GetProperty("description").GetString()!.ShouldContain("`rate_limited`");
        create.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()).ShouldContain("Idempotency-Key");
        // Every route that reads a JSON body says so (Accepts<T>), however it reads it.
        foreach (var (path, method) in new[] { ("/api/v1/generations", "post"), ("/api/v1/billing/auto-top-up", "put"), ("/api/v1/admin/customers/{userId}/credits", "post") })
            document.GetProperty("paths").GetProperty(path).GetProperty(method).GetProperty("requestBody").GetProperty("content")
                .GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString().ShouldNotBeNullOrEmpty($"{method} {path}");
        var list = document.GetProperty("paths").GetProperty("/api/v1/ledger").GetProperty("get");
        list.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()).ShouldBe(["limit", "starting_after"], ignoreOrder: true);
    }

    [Fact]
    public async Task ApiKeysPage_LeadsToTheReference()
    {
        var (_, browser) = await app.SignedInUserAsync();
        var page = await browser.GetStringAsync("/account/api-keys");
        page.ShouldContain($"href=\"{ApiDocs.ReferencePath}\" data-testid=\"api-reference-link\"");
    }

    [Fact]
    public async Task Reference_IsServedFromTheApp_UnderAPolicyThatAllowsOnlyItsOwnNoncedScript()
    {
        var client = app.NewCrossSiteClient(followRedirects: true);
        var response = await client.GetAsync(ApiDocs.ReferencePath);
        var html = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, html);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        html.ShouldContain("GenSaaS API reference");
        html.ShouldContain("openapi/v1.json");
        // A way back into the site, above the reference.
        html.ShouldContain("data-testid=\"api-reference-bar\"");
        html.ShouldContain("href=\"/account/api-keys\"");

        var policy = response.Headers.GetValues("Content-Security-Policy").Single();
        var nonce = Regex.Match(policy, "script-src 'self' 'nonce-([^']+)'").Groups[1].Value;
        nonce.ShouldNotBeNullOrEmpty(policy);
        policy.ShouldNotContain("unsafe-eval");
        // Whatever the page loads or connects to is the app's own; only form-action (the site's, unchanged) names other hosts.
        foreach (var directive in policy.Split(';', StringSplitOptions.TrimEntries).Where(d => !d.StartsWith("form-action", StringComparison.Ordinal)))
            directive.ShouldNotContain("http", Case.Insensitive, directive);
        // Every script on the page is the app's own file or carries this answer's nonce.
        foreach (Match script in Regex.Matches(html, "<script[^>]*>"))
            (script.Value.Contains($"nonce=\"{nonce}\"") || Regex.IsMatch(script.Value, "src=\"/")).ShouldBeTrue(script.Value);
        Regex.Matches(html, "(src|href)=\"https?://").ShouldBeEmpty("the page loads nothing from elsewhere");

        var again = await client.GetAsync(ApiDocs.ReferencePath);
        again.Headers.GetValues("Content-Security-Policy").Single().ShouldNotContain(nonce, Case.Sensitive, "a nonce is used once");

        foreach (var file in new[] { "/api/docs/scalar.js", "/js/api-reference.js", "/css/api-reference.css" })
        {
            var script = await client.GetAsync(file);
            script.StatusCode.ShouldBe(HttpStatusCode.OK, file);
            (await script.Content.ReadAsByteArrayAsync()).Length.ShouldBeGreaterThan(100, file);
        }

        // The rest of the site keeps the strict policy.
        var landing = await client.GetAsync("/");
        landing.Headers.GetValues("Content-Security-Policy").Single().ShouldBe(SecurityHeaders.ContentSecurityPolicy);
    }
}
