using System.Net;
using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Admin;

public sealed class AdminPageTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task AdminLanding_IsForAdminsOnly_AndLinksTheTools()
    {
        (await app.NewClient().GetAsync("/admin")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var (_, customer) = await app.SignedInUserAsync();
        (await customer.GetAsync("/admin")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        var (_, admin) = await app.SignedInUserAsync(admin: true);
        var page = await admin.GetStringAsync("/admin");
        page.ShouldContain("href=\"/admin/billing/events\"");
        page.ShouldContain("href=\"/hangfire\"");
    }
}
