using System.Net;
using System.Net.Http.Json;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Tests.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Flags;

/// <summary>
/// Billing turned dark and back over the admin API: purchases and pay per use are refused with nothing charged, trial credits
/// still generate; a single way to pay turned off refuses only that one.
/// </summary>
public sealed class BillingFlagTests : IDisposable
{
    // Its own app: flags are global to an app, and other classes' tests must not see billing dark.
    private readonly BillingTestApp _app = new(new Dictionary<string, string?> { ["Credits:TrialCredits"] = "1" });

    public void Dispose() => _app.Dispose();

    private Task<HttpClient> KeyAsync(string userId, params string[] scopes) => _app.KeyClientAsync(userId, scopes);

    private async Task SetAsync(HttpClient admin, string flag, bool enabled) =>
        (await admin.PutAsJsonAsync($"/api/v1/admin/flags/{flag}", new { enabled, reason = "flag test" })).StatusCode.ShouldBe(HttpStatusCode.OK);

    private static async Task<HttpResponseMessage> ChooseOnPageAsync(HttpClient client, string planKey)
    {
        var page = await client.GetStringAsync("/billing");
        return await client.PostAsync("/api/billing/checkout", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["plan"] = planKey, ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(page),
        }));
    }

    private Task<long> HoldsAsync(string userId) =>
        _app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @userId AND kind = 'authorisation'", new { userId });

    [Fact]
    public async Task BillingDark_RefusesPurchasesAndPayPerUse_ChargesNothing_TrialStillGenerates_AndBackOnWorksAgain()
    {
        var admin = await _app.CreateUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);
        var adminKey = await KeyAsync(admin.Id, ApiKeyScopes.Admin);
        var (customer, page) = await _app.SignedInUserAsync();
        await _app.BuyAsync(page, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () => await _app.QueryAsync<long>(
            "SELECT count(*) FROM billing_customers WHERE user_id = @Id AND card_last4 IS NOT NULL", new { customer.Id }) == 1, "card saved");
        var key = await KeyAsync(customer.Id, ApiKeyScopes.Generate, ApiKeyScopes.Read);
        var sessionsBefore = await _app.QueryAsync<long>("SELECT count(*) FROM checkout_sessions WHERE user_id = @Id", new { customer.Id });

        await SetAsync(adminKey, "billing", enabled: false);

        (await page.GetStringAsync("/billing")).ShouldContain("data-testid=\"billing-not-available\"");
        var chosen = await ChooseOnPageAsync(page, "bundle_10");
        chosen.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        chosen.Headers.Location!.ToString().ShouldBe("/billing?checkout=not_available");
        (await _app.QueryAsync<long>("SELECT count(*) FROM checkout_sessions WHERE user_id = @Id", new { customer.Id })).ShouldBe(sessionsBefore);

        // The trial credit still pays for an image; the next one would be paid per use and is refused, no hold on the card.
        (await _app.GenerateAsync(key)).StatusCode.ShouldBe(HttpStatusCode.Created);
        var refused = await _app.GenerateAsync(key);
        refused.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await BillingTestApp.ProblemCodeAsync(refused)).ShouldBe("billing_disabled");
        (await HoldsAsync(customer.Id)).ShouldBe(0);

        await SetAsync(adminKey, "billing", enabled: true);
        (await page.GetStringAsync("/billing")).ShouldNotContain("data-testid=\"billing-not-available\"");
        (await _app.GenerateAsync(key)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await HoldsAsync(customer.Id)).ShouldBe(1);
        var again = await ChooseOnPageAsync(page, "bundle_10");
        again.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        again.Headers.Location!.ToString().ShouldContain("/emulator/");
    }

    [Fact]
    public async Task OneWayToPayOff_RefusesOnlyThatOne_InTheApiWithBillingDisabled()
    {
        var admin = await _app.CreateUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);
        var adminKey = await KeyAsync(admin.Id, ApiKeyScopes.Admin);
        var (_, page) = await _app.SignedInUserAsync();

        await SetAsync(adminKey, "bundles", enabled: false);
        var bundle = await ChooseOnPageAsync(page, "bundle_10");
        bundle.Headers.Location!.ToString().ShouldBe("/billing?checkout=not_available");
        (await page.GetStringAsync("/billing?checkout=not_available")).ShouldContain("That purchase is not available right now");
        var subscribe = await ChooseOnPageAsync(page, "subscription_unlimited");
        subscribe.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        subscribe.Headers.Location!.ToString().ShouldContain("/emulator/");

        await SetAsync(adminKey, "bundles", enabled: true);
        (await ChooseOnPageAsync(page, "bundle_10")).Headers.Location!.ToString().ShouldContain("/emulator/");
    }
}
