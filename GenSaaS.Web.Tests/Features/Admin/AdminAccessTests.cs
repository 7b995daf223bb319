using System.Net;
using System.Text.RegularExpressions;
using Dapper;
using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>
/// Every admin route, read from the app's own endpoints (so a route added later is covered too): a signed-in customer gets 403
/// on every page and API route, for every method; on the API a key without the admin scope gets 403 insufficient_scope and a
/// non-admin's key 403 forbidden; an admin gets through.
/// </summary>
public sealed class AdminAccessTests(AdminTestApp app) : IClassFixture<AdminTestApp>
{
    private sealed record Route(string Method, string Path, bool IsApi);

    private List<Route> AdminRoutes(string id)
    {
        _ = app.BaseAddress;
        var routes = new List<Route>();
        foreach (var endpoint in app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            var raw = "/" + (endpoint.RoutePattern.RawText ?? "").Trim('/');
            var isApi = raw.StartsWith("/api/v1/admin", StringComparison.OrdinalIgnoreCase);
            if (!isApi && !raw.Equals("/admin", StringComparison.OrdinalIgnoreCase) && !raw.StartsWith("/admin/", StringComparison.OrdinalIgnoreCase))
                continue;
            // A parameter with a number constraint gets a number (else routing answers 404 before authorization is asked).
            var path = Regex.Replace(Regex.Replace(raw, "\\{[^}:]+:(long|int)\\??\\}", "1"), "\\{[^}]+\\}", id);
            // Pages take any method (GET shows, POST runs a handler); minimal API routes say theirs.
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET", "POST"];
            routes.AddRange(methods.Select(m => new Route(m, path, isApi)));
        }
        return routes.Distinct().ToList();
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, Route route) =>
        client.SendAsync(new HttpRequestMessage(new HttpMethod(route.Method), route.Path)
        {
            Content = route.Method is "GET" or "DELETE" ? null : new StringContent("{\"amount\": 5, \"reason\": \"probe\"}", System.Text.Encoding.UTF8, "application/json"),
        });

    [Fact]
    public async Task EveryAdminRoute_RefusesNonAdmins_AndKeysWithoutTheAdminScope_AndChangesNothing()
    {
        var (customer, cookie) = await app.SignedInUserAsync();
        var admin = await app.CreateUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);
        var routes = AdminRoutes(customer.Id);
        routes.Select(r => r.Path).ShouldContain("/admin/audit");
        routes.Select(r => r.Path).ShouldContain($"/admin/customers/{customer.Id}");
        routes.ShouldContain(new Route("POST", $"/admin/customers/{customer.Id}/actions", false));
        routes.ShouldContain(new Route("GET", $"/admin/customers/{customer.Id}/view", false));
        routes.ShouldContain(new Route("POST", $"/api/v1/admin/customers/{customer.Id}/credits", true));
        routes.ShouldContain(new Route("GET", "/api/v1/admin/audit", true));
        routes.ShouldContain(new Route("GET", "/api/v1/admin/customers", true));

        var adminWithoutScope = await app.KeyClientAsync(admin.Id, ApiKeyScopes.Generate, ApiKeyScopes.Read, ApiKeyScopes.Delete);
        var customerKey = await app.KeyClientAsync(customer.Id, ApiKeyScopes.Generate, ApiKeyScopes.Read);
        // A key with the admin scope whose owner is not (or no longer) an admin: made directly, as a demotion would leave it.
        var formerAdminKey = await app.KeyClientAsync(customer.Id, ApiKeyScopes.Admin);
        var anonymous = app.NewClient();

        foreach (var route in routes)
        {
            var name = $"{route.Method} {route.Path}";
            (await SendAsync(cookie, route)).StatusCode.ShouldBe(HttpStatusCode.Forbidden, $"customer's session: {name}");
            var anon = await SendAsync(anonymous, route);
            anon.StatusCode.ShouldBe(route.IsApi ? HttpStatusCode.Unauthorized : HttpStatusCode.Redirect, $"anonymous: {name}");
            if (!route.IsApi)
            {
                anon.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login", customMessage: name);
                // A key is no way into a page: the caller is anonymous there.
                (await SendAsync(adminWithoutScope, route)).StatusCode.ShouldBe(HttpStatusCode.Redirect, $"key on a page: {name}");
                continue;
            }
            var noScope = await SendAsync(adminWithoutScope, route);
            noScope.StatusCode.ShouldBe(HttpStatusCode.Forbidden, $"admin's key without the admin scope: {name}");
            (await AdminTestApp.JsonAsync(noScope, HttpStatusCode.Forbidden)).GetProperty("code").GetString().ShouldBe("insufficient_scope", name);
            var customerAnswer = await SendAsync(customerKey, route);
            (await AdminTestApp.JsonAsync(customerAnswer, HttpStatusCode.Forbidden)).GetProperty("code").GetString().ShouldBe("insufficient_scope", name);
            var former = await SendAsync(formerAdminKey, route);
            (await AdminTestApp.JsonAsync(former, HttpStatusCode.Forbidden)).GetProperty("code").GetString().ShouldBe("forbidden", name);
        }

        // None of it changed anything: no credits moved, nothing was audited.
        (await app.ScalarAsync("SELECT count(*) FROM credit_ledger WHERE kind = 'adjustment'")).ShouldBe(0);
        (await app.ScalarAsync("SELECT count(*) FROM audit_log")).ShouldBe(0);

        // An admin gets through every page and API read.
        var adminCookie = await app.SignInAsync(admin.Email!);
        var adminKey = await app.KeyClientAsync(admin.Id, ApiKeyScopes.Admin);
        foreach (var route in routes.Where(r => r.Method == "GET"))
        {
            var answer = await SendAsync(route.IsApi ? adminKey : adminCookie, route);
            var status = (int)answer.StatusCode;
            (status is >= 200 and < 300 or 404).ShouldBeTrue($"admin: GET {route.Path}: {status} {await answer.Content.ReadAsStringAsync()}");
        }
    }
}
