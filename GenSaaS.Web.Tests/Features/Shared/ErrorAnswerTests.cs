using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Features.Generation;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Shared;

/// <summary>The app as it runs in production, with a backend that fails in a way the app does not expect.</summary>
public sealed class ProductionApp() : TestApp(new Dictionary<string, string?>
{
    ["Credits:TrialCredits"] = "2",
    ["Billing:Mode"] = "Disabled",
})
{
    protected override string EnvironmentName => "Production";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton<IImageGenerator, BrokenGenerator>());
    }

    /// <summary>Stands in for a backend with a bug: it throws what no backend is expected to throw.</summary>
    private sealed class BrokenGenerator : IImageGenerator
    {
        public Task<GeneratedImage> GenerateAsync(string prompt, long seed, CancellationToken ct) =>
            throw new InvalidOperationException("bug in the backend");
    }
}

public sealed class ErrorAnswerTests(ProductionApp app) : IClassFixture<ProductionApp>
{
    private async Task<IReadOnlyList<string>> UsageStatesAsync(string userId)
    {
        await using var connection = await app.Db.OpenAsync();
        return (await connection.QueryAsync<string>("SELECT state FROM usage WHERE user_id = @userId", new { userId })).ToList();
    }

    [Fact]
    public async Task AnUnexpectedFault_IsA500Problem_AndTheCreditComesBack()
    {
        var (user, client) = await app.SignedInUserAsync();

        var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "anything" });

        response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("code").GetString().ShouldBe("internal_error");
        problem.GetProperty("detail").GetString()!.ShouldContain("request id");
        var me = await (await client.GetAsync("/api/v1/me")).Content.ReadFromJsonAsync<JsonElement>();
        me.GetProperty("trialCredits").GetInt64().ShouldBe(2);
        (await UsageStatesAsync(user.Id)).ShouldBe(["released"]);
    }

    [Fact]
    public async Task AFaultOnAPage_IsAPageSayingSo()
    {
        var (user, client) = await app.SignedInUserAsync();

        var response = await TestApp.PostFormAsync(client, "/generate", new()
        {
            ["Input.Prompt"] = "anything",
            ["Input.IdempotencyKey"] = Guid.NewGuid().ToString("N"),
        });

        response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        var page = await response.Content.ReadAsStringAsync();
        page.ShouldStartWith("<!DOCTYPE html>");
        page.ShouldContain("data-testid=\"error-title\"");

        var fragment = await TestApp.PostFormAsync(client, "/generate", new()
        {
            ["Input.Prompt"] = "anything again",
            ["Input.IdempotencyKey"] = Guid.NewGuid().ToString("N"),
        }, new() { ["HX-Request"] = "true" });
        fragment.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        (await fragment.Content.ReadAsStringAsync()).ShouldStartWith("<div class=\"alert error\"");
        (await UsageStatesAsync(user.Id)).ShouldBe(["released", "released"]);
    }

    [Fact]
    public async Task ABodyOverTheSizeLimit_IsA413Problem_AndNothingIsReserved()
    {
        var (user, client) = await app.SignedInUserAsync();

        var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = new string('a', 31 * 1024 * 1024) });

        response.StatusCode.ShouldBe(HttpStatusCode.RequestEntityTooLarge, await response.Content.ReadAsStringAsync());
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("code").GetString().ShouldBe("bad_request");
        (await UsageStatesAsync(user.Id)).ShouldBeEmpty();
    }
}
