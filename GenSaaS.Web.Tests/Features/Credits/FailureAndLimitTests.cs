using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Credits;

public sealed class FailureAndLimitTests
{
    [Fact]
    public async Task FailingBackend_Returns502_AndGivesTheCreditBack()
    {
        // An image service on a port nobody listens on: the real HTTP backend fails as it would in production.
        using var app = new TestApp(new()
        {
            ["Generation:Backend"] = "Http",
            ["Generation:Http:BaseUrl"] = "http://127.0.0.1:9",
            ["Credits:TrialCredits"] = "2",
        });
        var (user, client) = await app.SignedInUserAsync();

        using var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "never drawn" });
        response.StatusCode.ShouldBe(HttpStatusCode.BadGateway);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString().ShouldBe("generation_failed");

        await using var connection = await app.Db.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("SELECT trial_balance FROM credit_balances WHERE user_id = @Id", user)).ShouldBe(2);
        (await connection.ExecuteScalarAsync<string>("SELECT state FROM usage WHERE user_id = @Id", user)).ShouldBe("released");
        (await connection.QueryAsync<string>("SELECT kind FROM credit_ledger WHERE user_id = @Id ORDER BY id", user)).ShouldBe(["grant", "debit", "release"]);
        (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM generations WHERE user_id = @Id", user)).ShouldBe(0);
    }

    [Fact]
    public async Task RateLimit_Answers429_WithRetryAfter()
    {
        using var app = new TestApp(new()
        {
            ["Generation:Backend"] = "Null",
            ["Credits:TrialCredits"] = "10",
            ["Credits:TrialRatePerMinute"] = "3",
        });
        var (user, client) = await app.SignedInUserAsync();
        for (var i = 0; i < 3; i++)
            (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = $"ok {i}" })).StatusCode.ShouldBe(HttpStatusCode.Created);

        using var limited = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "too fast" });
        limited.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        limited.Headers.RetryAfter.ShouldNotBeNull();
        (await limited.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString().ShouldBe("rate_limited");

        var summary = await app.Services.GetRequiredService<AccountSummaries>().GetAsync(user.Id);
        summary.TrialCredits.ShouldBe(7, "a rate-limited request charges nothing");
        (await client.GetAsync("/api/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK, "reads are not limited");
    }
}
