using System.Net;
using System.Net.Http.Json;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Tests.Features.Credits;

namespace GenSaaS.Web.Tests.Features.Dashboard;

public sealed class DashboardTests(CreditsTestApp app) : IClassFixture<CreditsTestApp>
{
    [Fact]
    public async Task Anonymous_IsSentToSignIn()
    {
        var response = await app.NewClient().GetAsync("/dashboard");
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login");
    }

    [Fact]
    public async Task PrepaidCustomer_SeesCredits_AndLatestImages()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 10, "bundle", $"dash-{user.Id}", "test");
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "dashboard fox" })).StatusCode.ShouldBe(HttpStatusCode.Created);

        var page = await client.GetStringAsync("/dashboard");
        page.ShouldContain("<span data-testid=\"dashboard-credits\">9</span>");
        page.ShouldContain("data-testid=\"plan-name\">Prepaid credits<");
        page.ShouldContain("data-testid=\"generation-thumbnail\"");
        page.ShouldContain("dashboard fox");
        page.ShouldNotContain("data-testid=\"next-billing-date\"");
    }

    [Fact]
    public async Task Subscriber_SeesNextBillingDate_AndUsageMeter()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.SubscribeAsync(user.Id);
        for (var i = 0; i < 4; i++)
            (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = $"sub {i}" })).StatusCode.ShouldBe(HttpStatusCode.Created);

        var page = await client.GetStringAsync("/dashboard");
        page.ShouldContain($"data-testid=\"next-billing-date\" datetime=\"{DateTime.UtcNow.AddDays(29):yyyy-MM-dd}\"");
        page.ShouldContain("data-testid=\"usage-meter\"");
        page.ShouldContain("value=\"4\"");
        page.ShouldContain("4 of 5 fair-use images");
    }
}
