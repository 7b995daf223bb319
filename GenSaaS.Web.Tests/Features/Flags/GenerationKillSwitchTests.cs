using System.Net;
using System.Net.Http.Json;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Tests.Features.Admin;

namespace GenSaaS.Web.Tests.Features.Flags;

/// <summary>The generation kill switch: turned off over the admin API, /generate shows the operator's message and the API refuses with 503 generation_disabled, charging nothing; back on, both work.</summary>
public sealed class GenerationKillSwitchTests(AdminTestApp app) : IClassFixture<AdminTestApp>
{
    [Fact]
    public async Task KillSwitch_PageAndApiRefuseWithTheMessage_NothingCharged_ThenBackOn()
    {
        var (_, admin) = await app.AdminKeyAsync();
        var (customer, page) = await app.SignedInUserAsync();
        var key = await app.KeyClientAsync(customer.Id, ApiKeyScopes.Generate, ApiKeyScopes.Read);
        const string message = "Generation is paused for maintenance until 10:00 UTC.";

        (await admin.PutAsJsonAsync("/api/v1/admin/flags/generation", new { enabled = false, message, reason = "GPU maintenance" }))
            .StatusCode.ShouldBe(HttpStatusCode.OK);

        var html = await page.GetStringAsync("/generate");
        html.ShouldContain("data-testid=\"generation-disabled\"");
        html.ShouldContain(message);
        var refused = await AdminTestApp.JsonAsync(await key.PostAsJsonAsync("/api/v1/generations", new { prompt = "a lighthouse" }),
            HttpStatusCode.ServiceUnavailable);
        refused.GetProperty("code").GetString().ShouldBe("generation_disabled");
        refused.GetProperty("detail").GetString().ShouldBe(message);
        var posted = await AdminTestApp.PostFormAsync(page, "/generate", new() { ["Input.Prompt"] = "a lighthouse" });
        posted.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await posted.Content.ReadAsStringAsync()).ShouldContain(message);
        (await app.BalanceAsync(customer.Id)).Trial.ShouldBe(3, "nothing was reserved or charged");
        (await app.ScalarAsync("SELECT count(*) FROM usage WHERE user_id = @id", new { id = customer.Id })).ShouldBe(0);

        (await admin.PutAsJsonAsync("/api/v1/admin/flags/generation", new { enabled = true, message = (string?)null, reason = "back" }))
            .StatusCode.ShouldBe(HttpStatusCode.OK);
        (await page.GetStringAsync("/generate")).ShouldNotContain("data-testid=\"generation-disabled\"");
        (await key.PostAsJsonAsync("/api/v1/generations", new { prompt = "a lighthouse" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await app.BalanceAsync(customer.Id)).Trial.ShouldBe(2);
    }
}
