using System.Net;
using System.Text.Json;
using GenSaaS.Web.Tests.Infrastructure;
using Shouldly;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>When Stripe will not open the portal (not configured there, the customer gone, Stripe down), the customer gets a page that says so, never a 500.</summary>
public sealed class BillingPortalTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private async Task<HttpClient> CustomerStripeDoesNotKnowAsync()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.ExecuteAsync("INSERT INTO billing_customers (user_id, stripe_customer_id, updated_at) VALUES (@userId, @customerId, '2026-01-01 00:00:00')",
            new { userId = user.Id, customerId = "cus_gone" + Guid.NewGuid().ToString("N")[..12] });
        return client;
    }

    [Fact]
    public async Task AFormPost_WhenThePortalCannotOpen_LandsOnTheBillingPage_WithANotice()
    {
        var client = await CustomerStripeDoesNotKnowAsync();
        var token = TestApp.AntiforgeryToken(await client.GetStringAsync("/billing"));
        var response = await client.PostAsync("/api/billing/portal", new FormUrlEncodedContent([new("__RequestVerificationToken", token)]));

        response.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        response.Headers.Location!.ToString().ShouldBe("/billing?portal=unavailable");
        var page = await client.GetAsync(response.Headers.Location);
        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await page.Content.ReadAsStringAsync();
        html.ShouldContain("data-testid=\"portal-unavailable\"");
        html.ShouldNotContain("cus_gone");
    }

    [Fact]
    public async Task Htmx_IsSentToTheSamePage()
    {
        var client = await CustomerStripeDoesNotKnowAsync();
        var token = TestApp.AntiforgeryToken(await client.GetStringAsync("/billing"));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/portal")
        {
            Content = new FormUrlEncodedContent([new("__RequestVerificationToken", token)]),
        };
        request.Headers.Add("HX-Request", "true");
        var response = await client.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Headers.GetValues("HX-Redirect").Single().ShouldBe("/billing?portal=unavailable");
    }

    [Fact]
    public async Task AJsonCaller_Gets503PortalUnavailable_WithNothingFromStripeInIt()
    {
        var client = await CustomerStripeDoesNotKnowAsync();
        var token = TestApp.AntiforgeryToken(await client.GetStringAsync("/billing"));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/portal") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("RequestVerificationToken", token);
        var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable, body);
        using var problem = JsonDocument.Parse(body);
        problem.RootElement.GetProperty("code").GetString().ShouldBe("portal_unavailable");
        body.ShouldNotContain("cus_gone");
        body.ShouldNotContain("No such customer");
    }

    [Fact]
    public async Task TheBillingPage_WithoutTheFlag_ShowsNoNotice()
    {
        var client = await CustomerStripeDoesNotKnowAsync();
        (await client.GetStringAsync("/billing")).ShouldNotContain("portal-unavailable");
    }
}
