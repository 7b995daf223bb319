using System.Net;
using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Admin;
using GenSaaS.Web.Tests.Features.Billing;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>
/// An admin cancels a customer's plan at period end and resumes it from the customer page: Stripe and the stored
/// subscription change, one audit entry each with the reason; a double submit changes and audits once; no reason and
/// non-admins change nothing.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class AdminPlanChangeTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private static string Token(string html) =>
        Regex.Match(html, "name=\"Input.Token\" value=\"([0-9a-f]{32})\"") is { Success: true } m ? m.Groups[1].Value : throw new ShouldAssertException("no form token");

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string url, string html, string reason, string token) =>
        client.PostAsync(url, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Input.Reason"] = reason, ["Input.Token"] = token, ["__RequestVerificationToken"] = BillingTestApp.AntiforgeryToken(html),
        }));

    private Task<long> StoredFlagAsync(string subscriptionId) =>
        app.QueryAsync<long>("SELECT cancel_at_period_end FROM subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId });

    private Task<List<(string Action, string Actor, string? Reason)>> AuditAsync(string userId) =>
        app.ListAsync<(string, string, string?)>(
            "SELECT action, actor, reason FROM audit_log WHERE target = @userId AND action LIKE 'subscription.%' ORDER BY id", new { userId });

    [Fact]
    public async Task AdminCancelsThenResumes_WithAReason_OnceEach_AndADoubleSubmitChangesOnce()
    {
        var (customer, customerClient) = await app.SignedInUserAsync();
        await app.BuyAsync(customerClient, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(customer.Id) == "active", "subscription active");
        var subscriptionId = await app.QueryAsync<string>("SELECT stripe_subscription_id FROM subscriptions WHERE user_id = @Id", new { customer.Id });
        var (admin, browser) = await app.SignedInUserAsync(admin: true);

        var customerPage = await browser.GetStringAsync($"/admin/customers/{customer.Id}");
        customerPage.ShouldContain("data-testid=\"plan-cancel\"");
        var cancelUrl = $"/admin/customers/{customer.Id}/subscription/cancel";
        var page = await browser.GetStringAsync(cancelUrl);
        page.ShouldContain("is not charged again");
        var token = Token(page);

        // No reason: nothing changes.
        var noReason = await PostAsync(browser, cancelUrl, page, " ", token);
        noReason.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await noReason.Content.ReadAsStringAsync()).ShouldContain("Say why");
        (await new SubscriptionService(app.StripeClient).GetAsync(subscriptionId)).CancelAtPeriodEnd.ShouldBeFalse();

        // Confirmed twice at once (a double click, a second tab), then resent.
        var answers = await Task.WhenAll(PostAsync(browser, cancelUrl, page, "customer asked by phone", token), PostAsync(browser, cancelUrl, page, "customer asked by phone", token));
        answers.ShouldAllBe(a => a.StatusCode == HttpStatusCode.Redirect);
        (await PostAsync(browser, cancelUrl, page, "customer asked by phone", token)).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await new SubscriptionService(app.StripeClient).GetAsync(subscriptionId)).CancelAtPeriodEnd.ShouldBeTrue();
        (await StoredFlagAsync(subscriptionId)).ShouldBe(1);
        var entry = (await AuditAsync(customer.Id)).ShouldHaveSingleItem();
        entry.ShouldBe((AuditActions.SubscriptionCancel, admin.Id, "customer asked by phone"));

        var resumeUrl = $"/admin/customers/{customer.Id}/subscription/resume";
        (await browser.GetStringAsync($"/admin/customers/{customer.Id}")).ShouldContain("data-testid=\"plan-resume\"");
        page = await browser.GetStringAsync(resumeUrl);
        (await PostAsync(browser, resumeUrl, page, "changed their mind", Token(page))).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await new SubscriptionService(app.StripeClient).GetAsync(subscriptionId)).CancelAtPeriodEnd.ShouldBeFalse();
        (await StoredFlagAsync(subscriptionId)).ShouldBe(0);
        (await AuditAsync(customer.Id)).Select(a => a.Action).ShouldBe([AuditActions.SubscriptionCancel, AuditActions.SubscriptionResume]);

        // A customer (not an admin) gets 403 on the page and its form.
        (await customerClient.GetAsync(cancelUrl)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await AuditAsync(customer.Id)).Count.ShouldBe(2);
    }
}
