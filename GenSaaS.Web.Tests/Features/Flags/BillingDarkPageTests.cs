using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Tests.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;
using Stripe.Checkout;

namespace GenSaaS.Web.Tests.Features.Flags;

/// <summary>
/// What the customer is offered while the operator has billing, or one way to pay, turned off: the pages show no button that
/// would be refused, a tab opened before the change is refused with the notice, and nothing reaches Stripe or the ledger.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class BillingDarkPageTests : IDisposable
{
    // Its own app per test: flags are global to an app.
    private readonly BillingTestApp _app = new(new Dictionary<string, string?> { ["Credits:TrialCredits"] = "1" });

    public void Dispose() => _app.Dispose();

    private static readonly string[] PlanKeys = ["bundle_10", "bundle_25", "subscription_unlimited", "pay_per_use"];

    private Task<HttpClient> KeyAsync(string userId, params string[] scopes) => _app.KeyClientAsync(userId, scopes);

    private async Task<HttpClient> AdminKeyAsync()
    {
        var admin = await _app.CreateUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);
        return await KeyAsync(admin.Id, ApiKeyScopes.Admin);
    }

    private static async Task SetAsync(HttpClient admin, string flag, bool enabled) =>
        (await admin.PutAsJsonAsync($"/api/v1/admin/flags/{flag}", new { enabled, reason = "dark launch test" })).StatusCode.ShouldBe(HttpStatusCode.OK);

    private static Task<HttpResponseMessage> PostFormAsync(HttpClient client, string url, string staleHtml, Dictionary<string, string>? fields = null) =>
        client.PostAsync(url, new FormUrlEncodedContent(new Dictionary<string, string>(fields ?? [])
        {
            ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(staleHtml),
        }));

    private static Task<HttpResponseMessage> CheckoutJsonAsync(HttpClient client, string planKey) =>
        client.PostAsJsonAsync("/api/billing/checkout", new { plan = planKey });

    /// <summary>Checkout Sessions the emulator was asked to create, refused ones included.</summary>
    private int SessionsRequested() => _app.Emulator.RecentRequests.Count(r => r.Method == "POST" && r.Path == "/v1/checkout/sessions");

    private Task<long> LedgerLinesAsync(string userId) =>
        _app.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE user_id = @userId", new { userId });

    private Task<long> PaymentsAsync(string userId) =>
        _app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @userId", new { userId });

    private static void ShouldOfferEveryWayToPay(string page)
    {
        foreach (var key in PlanKeys)
            page.ShouldContain($"data-testid=\"choose-{key}\"");
        page.ShouldContain("data-testid=\"switch-pay-per-use\"");
        page.ShouldNotContain("data-testid=\"not-available-");
        page.ShouldNotContain("data-testid=\"billing-not-available\"");
    }

    [Fact]
    public async Task BillingDark_PagesOfferNothingToBuy_StaleTabsAndTheApiAreRefused_NothingReachesStripeOrTheLedger_AndBackOnItWorks()
    {
        var admin = await AdminKeyAsync();
        var (customer, client) = await _app.SignedInUserAsync();
        var billingKey = await KeyAsync(customer.Id, ApiKeyScopes.Read, ApiKeyScopes.Billing);
        var readKey = await KeyAsync(customer.Id, ApiKeyScopes.Read, ApiKeyScopes.Generate);

        // Tabs opened while billing was on.
        var staleBilling = await client.GetStringAsync("/billing");
        ShouldOfferEveryWayToPay(staleBilling);
        var staleSubscribe = await client.GetStringAsync("/billing/plan/subscribe");
        staleSubscribe.ShouldContain("data-testid=\"confirm-subscribe\"");
        var stalePayPerUse = await client.GetStringAsync("/billing/plan/pay-per-use");
        stalePayPerUse.ShouldContain("data-testid=\"save-card\"");
        var dashboard = await client.GetStringAsync("/dashboard");
        dashboard.ShouldContain("data-testid=\"dashboard-top-up\"");
        dashboard.ShouldContain("data-testid=\"compare-plans\"");

        await SetAsync(admin, "billing", enabled: false);
        var ledgerBefore = await LedgerLinesAsync(customer.Id);
        var requestedBefore = SessionsRequested();

        // The page: no button that buys, subscribes, saves a card or changes the plan; the account, the limits and the
        // history stay.
        var page = await client.GetStringAsync("/billing");
        page.ShouldContain("data-testid=\"billing-not-available\"");
        page.ShouldContain("data-testid=\"plans-not-available\"");
        foreach (var hook in new[] { "choose-", "switch-pay-per-use", "switch-to-plan", "switch-to-bundle", "not-available-" })
            page.ShouldNotContain($"data-testid=\"{hook}");
        page.ShouldNotContain("action=\"/api/billing/checkout\"");
        page.ShouldNotContain("href=\"/billing/plan/subscribe\"");
        page.ShouldNotContain("href=\"/billing/plan/pay-per-use\"");
        page.ShouldContain("data-testid=\"credits-remaining\">1<");
        page.ShouldContain("data-testid=\"spend-cap\"");
        page.ShouldContain("data-testid=\"low-balance\"");
        page.ShouldContain("data-testid=\"next-image-funding\">Your trial credits pay for your next image (1 left).<");
        (await client.GetStringAsync("/dashboard/credits")).ShouldContain("Credit history", Case.Insensitive);

        var darkDashboard = await client.GetStringAsync("/dashboard");
        darkDashboard.ShouldNotContain("data-testid=\"dashboard-top-up\"");
        darkDashboard.ShouldNotContain("data-testid=\"compare-plans\"");
        darkDashboard.ShouldContain("Billing is not available right now");
        darkDashboard.ShouldContain("data-testid=\"dashboard-credits\">1<");

        // The pages reachable directly say so and offer no button.
        var subscribe = await client.GetStringAsync("/billing/plan/subscribe");
        subscribe.ShouldContain("data-testid=\"purchase-not-available\"");
        subscribe.ShouldNotContain("data-testid=\"confirm-subscribe\"");
        var payPerUse = await client.GetStringAsync("/billing/plan/pay-per-use");
        payPerUse.ShouldContain("data-testid=\"purchase-not-available\"");
        payPerUse.ShouldNotContain("data-testid=\"save-card\"");
        payPerUse.ShouldNotContain("data-testid=\"confirm-pay-per-use\"");

        // Stale tabs press their buttons: each lands on /billing with the notice, nothing is started.
        foreach (var key in new[] { "bundle_10", "bundle_25", "pay_per_use", "subscription_unlimited" })
        {
            var pressed = await PostFormAsync(client, "/api/billing/checkout", staleBilling, new() { ["plan"] = key });
            pressed.StatusCode.ShouldBe(HttpStatusCode.SeeOther, key);
            pressed.Headers.Location!.ToString().ShouldBe("/billing?checkout=not_available", key);
        }
        var confirmed = await PostFormAsync(client, "/billing/plan/subscribe", staleSubscribe);
        confirmed.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        confirmed.Headers.Location!.ToString().ShouldBe("/billing?checkout=not_available");
        var savedCard = await PostFormAsync(client, "/billing/plan/pay-per-use?handler=SaveCard", stalePayPerUse);
        savedCard.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        savedCard.Headers.Location!.ToString().ShouldBe("/billing?checkout=not_available");
        using (var htmx = new HttpRequestMessage(HttpMethod.Post, "/api/billing/checkout")
        {
            Content = new FormUrlEncodedContent([new("plan", "bundle_10"), new("__RequestVerificationToken", TestApp.AntiforgeryToken(staleBilling))]),
        })
        {
            htmx.Headers.Add("HX-Request", "true");
            var htmxResponse = await client.SendAsync(htmx);
            htmxResponse.StatusCode.ShouldBe(HttpStatusCode.OK);
            htmxResponse.Headers.GetValues("HX-Redirect").Single().ShouldBe("/billing?checkout=not_available");
        }
        var notice = await client.GetStringAsync("/billing?checkout=not_available");
        notice.ShouldContain("data-testid=\"billing-not-available\"");
        notice.ShouldContain("Billing is not available right now. Nothing was charged");

        // The JSON purchase route (cookie) answers 503 billing_disabled for every plan.
        foreach (var key in PlanKeys)
        {
            var refused = await CheckoutJsonAsync(client, key);
            refused.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable, key);
            (await BillingTestApp.ProblemCodeAsync(refused)).ShouldBe("billing_disabled", key);
        }

        // API keys: the billing scope reaches the switch and is refused by the flag; without it, the scope is missing. A key
        // never opens Checkout (it authenticates /api/v1 only).
        var switched = await billingKey.PostAsync("/api/v1/billing/pay-per-use", null);
        switched.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await BillingTestApp.ProblemCodeAsync(switched)).ShouldBe("billing_disabled");
        var noScope = await readKey.PostAsync("/api/v1/billing/pay-per-use", null);
        noScope.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await BillingTestApp.ProblemCodeAsync(noScope)).ShouldBe("insufficient_scope");
        (await CheckoutJsonAsync(billingKey, "bundle_10")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await billingKey.GetAsync("/api/v1/billing")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Nothing reached Stripe, nothing was recorded or charged; the trial credit still generates.
        SessionsRequested().ShouldBe(requestedBefore);
        (await new SessionService(_app.StripeClient).ListAsync()).Data.ShouldBeEmpty();
        (await _app.QueryAsync<long>("SELECT count(*) FROM checkout_sessions WHERE user_id = @Id", new { customer.Id })).ShouldBe(0);
        (await PaymentsAsync(customer.Id)).ShouldBe(0);
        (await LedgerLinesAsync(customer.Id)).ShouldBe(ledgerBefore);
        (await _app.GenerateAsync(readKey)).StatusCode.ShouldBe(HttpStatusCode.Created);

        // Out of credits, the generate page says nothing can be bought rather than sending the customer to buy.
        var empty = await TestApp.PostFormAsync(client, "/generate", new() { ["Input.Prompt"] = "a lighthouse", ["Input.IdempotencyKey"] = Guid.NewGuid().ToString("N") });
        empty.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        var emptyHtml = await empty.Content.ReadAsStringAsync();
        emptyHtml.ShouldContain("billing is not available right now, so none can be bought");
        emptyHtml.ShouldNotContain("data-testid=\"generation-error-action\"");
        // The API says the same: still 402 insufficient_credits, with words that send nobody to buy.
        var emptyApi = await _app.GenerateAsync(readKey);
        emptyApi.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        var emptyProblem = await emptyApi.Content.ReadFromJsonAsync<JsonElement>();
        emptyProblem.GetProperty("code").GetString().ShouldBe("insufficient_credits");
        emptyProblem.GetProperty("detail").GetString()!.ShouldContain("billing is not available right now, so none can be bought");

        // Back on: the buttons are offered again and a purchase opens Checkout.
        await SetAsync(admin, "billing", enabled: true);
        ShouldOfferEveryWayToPay(await client.GetStringAsync("/billing"));
        (await client.GetStringAsync("/dashboard")).ShouldContain("data-testid=\"dashboard-top-up\"");
        (await client.GetStringAsync("/billing/plan/subscribe")).ShouldContain("data-testid=\"confirm-subscribe\"");
        var offered = await TestApp.PostFormAsync(client, "/generate", new() { ["Input.Prompt"] = "a lighthouse", ["Input.IdempotencyKey"] = Guid.NewGuid().ToString("N") });
        (await offered.Content.ReadAsStringAsync()).ShouldContain("data-testid=\"generation-error-action\"");
        var offeredApi = await (await _app.GenerateAsync(readKey)).Content.ReadFromJsonAsync<JsonElement>();
        offeredApi.GetProperty("detail").GetString()!.ShouldContain("Buy a bundle");
        var again = await CheckoutJsonAsync(client, "bundle_10");
        again.StatusCode.ShouldBe(HttpStatusCode.OK, await again.Content.ReadAsStringAsync());
        SessionsRequested().ShouldBe(requestedBefore + 1);
        var stillStale = await PostFormAsync(client, "/api/billing/checkout", staleBilling, new() { ["plan"] = "bundle_25" });
        stillStale.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        stillStale.Headers.Location!.ToString().ShouldContain("/emulator/");
    }

    public static TheoryData<string, string[]> WaysToPay => new()
    {
        { "bundles", ["bundle_10", "bundle_25"] },
        { "monthly_plan", ["subscription_unlimited"] },
        { "pay_per_use", ["pay_per_use"] },
    };

    [Theory]
    [MemberData(nameof(WaysToPay))]
    public async Task OneWayToPayOff_HidesOnlyItsButtons_RefusesOnlyItself_AndBackOnWorks(string flag, string[] itsPlans)
    {
        var admin = await AdminKeyAsync();
        var (customer, client) = await _app.SignedInUserAsync();
        var billingKey = await KeyAsync(customer.Id, ApiKeyScopes.Read, ApiKeyScopes.Billing);
        var staleBilling = await client.GetStringAsync("/billing");
        var staleSubscribe = await client.GetStringAsync("/billing/plan/subscribe");
        var others = PlanKeys.Except(itsPlans).ToArray();

        await SetAsync(admin, flag, enabled: false);
        var requestedBefore = SessionsRequested();

        var page = await client.GetStringAsync("/billing");
        page.ShouldNotContain("data-testid=\"billing-not-available\"");
        page.ShouldNotContain("data-testid=\"plans-not-available\"");
        foreach (var key in itsPlans)
        {
            page.ShouldNotContain($"data-testid=\"choose-{key}\"");
            page.ShouldContain($"data-testid=\"not-available-{key}\">Not available right now.<");
        }
        foreach (var key in others)
        {
            page.ShouldContain($"data-testid=\"choose-{key}\"");
            page.ShouldNotContain($"data-testid=\"not-available-{key}\"");
        }
        if (flag == "pay_per_use")
        {
            page.ShouldNotContain("data-testid=\"switch-pay-per-use\"");
            page.ShouldContain("data-testid=\"switch-pay-per-use-not-available\"");
        }
        else
        {
            page.ShouldContain("data-testid=\"switch-pay-per-use\"");
        }
        var dashboard = await client.GetStringAsync("/dashboard");
        dashboard.ShouldContain("data-testid=\"compare-plans\"");
        if (flag == "bundles")
            dashboard.ShouldNotContain("data-testid=\"dashboard-top-up\"");
        else
            dashboard.ShouldContain("data-testid=\"dashboard-top-up\"");

        // Its page and its stale buttons are refused; the other ways still open Checkout.
        var subscribe = await client.GetStringAsync("/billing/plan/subscribe");
        subscribe.ShouldContain(flag == "monthly_plan" ? "data-testid=\"purchase-not-available\"" : "data-testid=\"confirm-subscribe\"");
        var payPerUse = await client.GetStringAsync("/billing/plan/pay-per-use");
        if (flag == "pay_per_use")
        {
            payPerUse.ShouldContain("data-testid=\"purchase-not-available\"");
            payPerUse.ShouldNotContain("data-testid=\"save-card\"");
            var switched = await billingKey.PostAsync("/api/v1/billing/pay-per-use", null);
            switched.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            (await BillingTestApp.ProblemCodeAsync(switched)).ShouldBe("billing_disabled");
        }
        else
        {
            payPerUse.ShouldContain("data-testid=\"save-card\"");
            // No saved card yet: the switch itself is allowed and asks for one.
            (await BillingTestApp.ProblemCodeAsync(await billingKey.PostAsync("/api/v1/billing/pay-per-use", null))).ShouldBe("no_saved_card");
        }
        foreach (var key in itsPlans)
        {
            var pressed = key == "subscription_unlimited"
                ? await PostFormAsync(client, "/billing/plan/subscribe", staleSubscribe)
                : await PostFormAsync(client, "/api/billing/checkout", staleBilling, new() { ["plan"] = key });
            pressed.Headers.Location!.ToString().ShouldBe("/billing?checkout=not_available", key);
            var refused = await CheckoutJsonAsync(client, key);
            refused.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable, key);
            (await BillingTestApp.ProblemCodeAsync(refused)).ShouldBe("billing_disabled", key);
        }
        SessionsRequested().ShouldBe(requestedBefore);
        (await _app.QueryAsync<long>("SELECT count(*) FROM checkout_sessions WHERE user_id = @Id", new { customer.Id })).ShouldBe(0);
        (await PaymentsAsync(customer.Id)).ShouldBe(0);

        var other = others[0];
        var allowed = await CheckoutJsonAsync(client, other);
        allowed.StatusCode.ShouldBe(HttpStatusCode.OK, $"{other}: {await allowed.Content.ReadAsStringAsync()}");
        SessionsRequested().ShouldBe(requestedBefore + 1);

        await SetAsync(admin, flag, enabled: true);
        var back = await client.GetStringAsync("/billing");
        foreach (var key in itsPlans)
            back.ShouldContain($"data-testid=\"choose-{key}\"");
        back.ShouldNotContain("data-testid=\"not-available-");
        var bought = await CheckoutJsonAsync(client, itsPlans[0]);
        bought.StatusCode.ShouldBe(HttpStatusCode.OK, await bought.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task PayPerUseOff_WithASavedCard_ThePageSaysTheCardIsNotCharged_AndTheSwitchChangesNothing()
    {
        var admin = await AdminKeyAsync();
        var (customer, client) = await _app.SignedInUserAsync();
        await _app.BuyAsync(client, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () => await _app.QueryAsync<long>(
            "SELECT count(*) FROM billing_customers WHERE user_id = @Id AND card_last4 IS NOT NULL", new { customer.Id }) == 1, "card saved");
        (await client.GetStringAsync("/billing")).ShouldContain("You pay per use with your saved card");

        await SetAsync(admin, "pay_per_use", enabled: false);
        var page = await client.GetStringAsync("/billing");
        page.ShouldContain("data-testid=\"pay-per-use-not-available\"");
        page.ShouldNotContain("You pay per use with your saved card");
        page.ShouldContain("data-testid=\"switch-to-plan\"");
        page.ShouldContain("data-testid=\"switch-to-bundle\"");
        page.ShouldContain("data-testid=\"saved-card\"");
        (await client.GetStringAsync("/billing/plan/pay-per-use")).ShouldContain("data-testid=\"purchase-not-available\"");

        await SetAsync(admin, "billing", enabled: false);
        page = await client.GetStringAsync("/billing");
        page.ShouldNotContain("data-testid=\"switch-to-plan\"");
        page.ShouldNotContain("data-testid=\"switch-to-bundle\"");
        page.ShouldContain("data-testid=\"saved-card\"");
        (await client.GetStringAsync("/dashboard")).ShouldNotContain("data-testid=\"compare-plans\"");
    }

    [Fact]
    public async Task LowBalanceBanner_WhileBundlesOrBillingAreOff_StillWarns_ButDoesNotSendTheCustomerToBuy()
    {
        var admin = await AdminKeyAsync();
        var (customer, client) = await _app.SignedInUserAsync();
        await _app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await _app.PrepaidAsync(customer.Id) == 10, "bundle credits granted");
        await PostFormAsync(client, "/billing?handler=LowBalance", await client.GetStringAsync("/billing"), new() { ["LowBalanceForm.Threshold"] = "20" });
        var key = await KeyAsync(customer.Id, ApiKeyScopes.Generate);
        // The trial credit pays first, then a prepaid one: 9 left, below 20.
        (await _app.GenerateAsync(key)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await _app.GenerateAsync(key)).StatusCode.ShouldBe(HttpStatusCode.Created);
        await BillingTestApp.EventuallyAsync(async () => (await client.GetStringAsync("/dashboard")).Contains("data-testid=\"low-balance-banner\""), "the low-balance banner");
        (await client.GetStringAsync("/dashboard")).ShouldContain("data-testid=\"low-balance-buy\"");

        await SetAsync(admin, "bundles", enabled: false);
        var page = await client.GetStringAsync("/dashboard");
        page.ShouldContain("data-testid=\"low-balance-banner\"");
        page.ShouldNotContain("data-testid=\"low-balance-buy\"");

        await SetAsync(admin, "bundles", enabled: true);
        await SetAsync(admin, "billing", enabled: false);
        page = await client.GetStringAsync("/dashboard");
        page.ShouldContain("9 left");
        page.ShouldNotContain("data-testid=\"low-balance-buy\"");

        await SetAsync(admin, "billing", enabled: true);
        (await client.GetStringAsync("/dashboard")).ShouldContain("data-testid=\"low-balance-buy\"");
    }
}
