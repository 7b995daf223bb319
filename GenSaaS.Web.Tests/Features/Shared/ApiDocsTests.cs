using System.Reflection;
using GenSaaS.Web.Features.Shared;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Shared;

/// <summary>
/// docs/api.md stays the whole reference: every route under <c>/api/v1</c> the app serves and every problem code it can answer
/// is in it, and every code an endpoint declares is one of <see cref="ProblemCodes"/>.
/// </summary>
public sealed class ApiDocsTests(ProductionApp app) : IClassFixture<ProductionApp>
{
    private static string RepositoryFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GenSaaS.sln")))
                return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException("The repository root was not found above the test binaries.");
    }

    private static readonly string ApiMd = File.ReadAllText(RepositoryFile("docs/api.md"));

    [Fact]
    public void EveryApiRoute_IsDocumentedInApiMd_AsMethodAndPath()
    {
        var routes = OpenApiTests.ApiRoutes(app);
        routes.Count.ShouldBeGreaterThan(5);
        routes.Where(r => !ApiMd.Contains($"`{r}`", StringComparison.Ordinal))
            .ShouldBeEmpty("routes missing from docs/api.md (write them as `METHOD /path`)");
    }

    [Fact]
    public void EveryProblemCode_IsDocumentedInApiMd()
    {
        var codes = typeof(ProblemCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!).ToList();
        codes.ShouldContain(ProblemCodes.RateLimited);
        ApiDocs.AllCodes().ShouldBe(codes, ignoreOrder: true);
        codes.Where(c => !ApiMd.Contains($"`{c}`", StringComparison.Ordinal))
            .ShouldBeEmpty("problem codes missing from docs/api.md");
    }

    [Fact]
    public void EveryDeclaredProblem_IsAProblemCode_WithAnErrorStatus()
    {
        _ = app.BaseAddress;
        var declared = app.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .SelectMany(e => e.Metadata.GetOrderedMetadata<ProblemResponses>().Select(p => (Endpoint: e.DisplayName, p.Status, p.Codes)))
            .ToList();
        declared.ShouldNotBeEmpty();
        foreach (var (endpoint, status, codes) in declared)
        {
            status.ShouldBeInRange(400, 599, endpoint);
            codes.ShouldNotBeEmpty(endpoint);
            codes.Where(c => !ApiDocs.AllCodes().Contains(c)).ShouldBeEmpty($"{endpoint} declares codes that are not ProblemCodes");
        }
    }
}
