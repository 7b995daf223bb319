using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// <c>/api/v1/billing</c>, <c>/api/v1/ledger</c>, <c>/api/v1/payments</c> and the balance in a generation's <c>201</c>, over
/// HTTP after real purchases in the emulator: what each shows, cursor paging while rows arrive, bad input, scopes.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class BillingApiTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private CreditLedger Ledger => app.Services.GetRequiredService<CreditLedger>();

    private async Task<HttpClient> KeyAsync(string userId, params string[] scopes)
    {
        var created = await app.Services.GetRequiredService<ApiKeyStore>().CreateAsync(userId, "billing api test", scopes, CancellationToken.None);
        var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", created!.Value.Key);
        return client;
    }

    private static async Task<JsonElement> GetJsonAsync(HttpClient client, string url)
    {
        var response = await client.GetAsync(url);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static async Task<JsonElement> GenerateAsync(HttpClient client, string prompt = "a red kite")
    {
        var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt });
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static List<JsonElement> Data(JsonElement list) => list.GetProperty("data").EnumerateArray().ToList();

    private static string? Str(JsonElement e, string name) => e.GetProperty(name).ValueKind == JsonValueKind.Null ? null : e.GetProperty(name).GetString();

    private static async Task ShouldBeProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code, string? parameter = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(status, text);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        using var problem = JsonDocument.Parse(text);
        problem.RootElement.GetProperty("code").GetString().ShouldBe(code, text);
        if (parameter is not null)
            problem.RootElement.GetProperty("errors").TryGetProperty(parameter, out _).ShouldBeTrue(text);
    }

    /// <summary>Every page of a list, following <c>starting_after</c>, with <paramref name="between"/> run after each page.</summary>
    private static async Task<List<string>> PageAllAsync(HttpClient client, string route, int limit, Func<Task>? between = null)
    {
        var seen = new List<string>();
        var query = $"?limit={limit}";
        for (var pages = 0; pages < 100; pages++)
        {
            var page = await GetJsonAsync(client, route + query);
            page.GetProperty("object").GetString().ShouldBe("list");
            page.GetProperty("url").GetString().ShouldBe(route);
            var ids = Data(page).Select(l => l.GetProperty("id").GetString()!).ToList();
            ids.Count.ShouldBeLessThanOrEqualTo(limit);
            seen.AddRange(ids);
            if (!page.GetProperty("has_more").GetBoolean())
                return seen;
            ids.Count.ShouldBe(limit);
            if (between is not null)
                await between();
            query = $"?limit={limit}&starting_after={ids[^1]}";
        }
        throw new ShouldAssertException("More than 100 pages");
    }

    [Fact]
    public async Task AfterABundleGenerationsAndARefund_BillingLedgerAndPaymentsShowIt_AndLinkToEachOther()
    {
        var (user, browser) = await app.SignedInUserAsync();
        var bundleSession = await app.BuyAsync(browser, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "bundle credits");
        await app.BuyAsync(browser, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT card_last4 FROM billing_customers WHERE user_id = @id", new { id = user.Id }) == "4242", "card saved");

        using var key = await KeyAsync(user.Id, ApiKeyScopes.Generate, ApiKeyScopes.Read);
        var made = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var created = await GenerateAsync(key, $"kite {i}");
            made.Add(created.GetProperty("id").GetString()!);
            var balance = created.GetProperty("balance");
            balance.GetProperty("prepaidCredits").GetInt64().ShouldBe(9 - i);
            balance.GetProperty("trialCredits").GetInt64().ShouldBe(0);
            balance.GetProperty("creditsRemaining").GetInt64().ShouldBe(9 - i);
            balance.GetProperty("plan").GetString().ShouldBe("prepaid");
            balance.GetProperty("planUsage").ValueKind.ShouldBe(JsonValueKind.Null);
            created.GetProperty("prompt").GetString().ShouldBe($"kite {i}");
        }

        var session = await new Stripe.Checkout.SessionService(app.StripeClient).GetAsync(bundleSession);
        var chargeId = (await new PaymentIntentService(app.StripeClient).GetAsync(session.PaymentIntentId)).LatestChargeId;
        var refund = await new RefundService(app.StripeClient).CreateAsync(new RefundCreateOptions { Charge = chargeId, Amount = 200 });
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE user_id = @id AND kind = 'refund_reversal'", new { id = user.Id }) == 1
            && await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'refund' AND status = 'succeeded'", new { id = user.Id }) == 1,
            "refund recorded and its credits taken back");
        var prepaidNow = await app.PrepaidAsync(user.Id);
        prepaidNow.ShouldBeLessThan(7);

        // The cookie works as for every other API route.
        var billing = await GetJsonAsync(browser, "/api/v1/billing");
        billing.GetProperty("object").GetString().ShouldBe("billing");
        billing.GetProperty("plan").GetString().ShouldBe("prepaid");
        billing.GetProperty("subscription").ValueKind.ShouldBe(JsonValueKind.Null);
        billing.GetProperty("payPerUse").GetBoolean().ShouldBeTrue();
        var card = billing.GetProperty("card");
        card.GetProperty("brand").GetString().ShouldBe("visa");
        card.GetProperty("last4").GetString().ShouldBe("4242");
        card.GetProperty("expMonth").GetInt32().ShouldBeInRange(1, 12);
        card.GetProperty("expYear").GetInt32().ShouldBeGreaterThan(2000);
        billing.GetProperty("balance").GetProperty("prepaidCredits").GetInt64().ShouldBe(prepaidNow);
        var spendCap = billing.GetProperty("spendCap");
        spendCap.GetProperty("capMinor").ValueKind.ShouldBe(JsonValueKind.Null);
        spendCap.GetProperty("spentThisMonthMinor").GetInt64().ShouldBeGreaterThanOrEqualTo(0);
        billing.GetProperty("lowBalance").GetProperty("thresholdSet").ValueKind.ShouldBe(JsonValueKind.Null);
        // The same settings as /api/v1/me shows, from the same reader.
        var me = await GetJsonAsync(key, "/api/v1/me");
        me.GetProperty("spendCap").GetRawText().ShouldBe(spendCap.GetRawText());
        me.GetProperty("lowBalance").GetRawText().ShouldBe(billing.GetProperty("lowBalance").GetRawText());

        var ledger = Data(await GetJsonAsync(key, "/api/v1/ledger?limit=100"));
        ledger.Select(l => l.GetProperty("kind").GetString()).ShouldBe(["refund_reversal", "debit", "debit", "debit", "grant"]);
        ledger.ShouldAllBe(l => l.GetProperty("object").GetString() == "ledger_line" && l.GetProperty("bucket").GetString() == "prepaid");
        ledger[0].GetProperty("balanceAfter").GetInt64().ShouldBe(prepaidNow);
        ledger[0].GetProperty("amount").GetInt64().ShouldBe(prepaidNow - 7);
        ledger[0].GetProperty("reference").GetString().ShouldBe(refund.Id);
        ledger.Skip(1).Take(3).Select(l => l.GetProperty("balanceAfter").GetInt64()).ShouldBe([7L, 8L, 9L]);
        ledger.Skip(1).Take(3).Select(l => l.GetProperty("amount").GetInt64()).ShouldBe([-1L, -1L, -1L]);
        ledger.Skip(1).Take(3).Select(l => Str(l, "generationId")).ShouldBe(Enumerable.Reverse(made).Select(m => (string?)m));
        ledger.Skip(1).Take(3).ShouldAllBe(l => Str(l, "usageId") != null && Str(l, "usageId") == Str(l, "reference"));
        var grant = ledger[4];
        grant.GetProperty("amount").GetInt64().ShouldBe(10);
        grant.GetProperty("balanceAfter").GetInt64().ShouldBe(10);
        grant.GetProperty("reason").GetString().ShouldBe("Bought 10 credits");
        grant.GetProperty("reference").GetString().ShouldBe(bundleSession);
        ledger.Select(l => l.GetProperty("id").GetString()!).ShouldBe(ledger.Select(l => l.GetProperty("id").GetString()!).OrderByDescending(id => long.Parse(id[3..])));

        // A generation a client follows from its ledger line is the one it made.
        (await GetJsonAsync(key, $"/api/v1/generations/{Str(ledger[1], "generationId")}")).GetProperty("prompt").GetString().ShouldBe("kite 2");

        var payments = Data(await GetJsonAsync(browser, "/api/v1/payments?limit=100"));
        payments.ShouldAllBe(p => p.GetProperty("object").GetString() == "payment");
        var bundle = payments.Single(p => p.GetProperty("kind").GetString() == "bundle");
        bundle.GetProperty("amount").GetInt64().ShouldBe(400);
        bundle.GetProperty("currency").GetString().ShouldBe("usd");
        bundle.GetProperty("status").GetString().ShouldBe("paid");
        bundle.GetProperty("credits").GetInt64().ShouldBe(10);
        bundle.GetProperty("stripeId").GetString().ShouldBe(bundleSession);
        var refunded = payments.Single(p => p.GetProperty("kind").GetString() == "refund");
        refunded.GetProperty("amount").GetInt64().ShouldBe(200);
        refunded.GetProperty("stripeId").GetString().ShouldBe(refund.Id);
        payments.IndexOf(refunded).ShouldBeLessThan(payments.IndexOf(bundle));

        // Each side names the other: the grant's payment is the bundle, the bundle's ledger line is the grant.
        Str(grant, "paymentId").ShouldBe(Str(bundle, "id"));
        Str(bundle, "ledgerLineId").ShouldBe(Str(grant, "id"));
        Str(ledger[0], "paymentId").ShouldBe(Str(refunded, "id"));
    }

    [Fact]
    public async Task Subscriber_SeesPlanPeriodAndCancelAtPeriodEnd_AndPlanUsageInEach201()
    {
        var (user, browser) = await app.SignedInUserAsync();
        await app.BuyAsync(browser, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription");
        using var key = await KeyAsync(user.Id, ApiKeyScopes.Generate, ApiKeyScopes.Read);

        var billing = await GetJsonAsync(key, "/api/v1/billing");
        billing.GetProperty("plan").GetString().ShouldBe("subscription_unlimited");
        var subscription = billing.GetProperty("subscription");
        subscription.GetProperty("status").GetString().ShouldBe("active");
        subscription.GetProperty("id").GetString()!.ShouldStartWith("sub_");
        subscription.GetProperty("currentPeriodEnd").GetDateTime().ShouldBeGreaterThan(DateTime.UtcNow.AddDays(25));
        subscription.GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBeFalse();

        var first = (await GenerateAsync(key)).GetProperty("balance");
        first.GetProperty("plan").GetString().ShouldBe("subscription_unlimited");
        var usage = first.GetProperty("planUsage");
        usage.GetProperty("used").GetInt64().ShouldBe(1);
        usage.GetProperty("hardCap").GetInt32().ShouldBe(1000);
        usage.GetProperty("remaining").GetInt64().ShouldBe(999);
        usage.GetProperty("periodEnd").GetDateTime().ShouldBe(subscription.GetProperty("currentPeriodEnd").GetDateTime());
        (await GenerateAsync(key)).GetProperty("balance").GetProperty("planUsage").GetProperty("used").GetInt64().ShouldBe(2);

        var subscriptionId = subscription.GetProperty("id").GetString()!;
        await new SubscriptionService(app.StripeClient).UpdateAsync(subscriptionId, new SubscriptionUpdateOptions { CancelAtPeriodEnd = true });
        await BillingTestApp.EventuallyAsync(async () =>
            (await GetJsonAsync(key, "/api/v1/billing")).GetProperty("subscription").GetProperty("cancelAtPeriodEnd").GetBoolean(), "cancel at period end shown");

        var payments = Data(await GetJsonAsync(key, "/api/v1/payments"));
        var invoice = payments.Single(p => p.GetProperty("kind").GetString() == "subscription_invoice");
        invoice.GetProperty("amount").GetInt64().ShouldBe(1900);
        invoice.GetProperty("status").GetString().ShouldBe("paid");
        // The plan pays, so no ledger line moved.
        Data(await GetJsonAsync(key, "/api/v1/ledger")).ShouldBeEmpty();
    }

    [Fact]
    public async Task PagingTheLedgerAndPayments_WhileRowsArrive_ReturnsEachRowOnce_NewestFirst()
    {
        var (user, _) = await app.SignedInUserAsync();
        var payments = app.Services.GetRequiredService<Payments>();
        for (var i = 0; i < 23; i++)
            await Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 1, $"seed {i}", $"page-{user.Id}-{i}", "test");
        for (var i = 0; i < 12; i++)
            await payments.RecordAsync(Payment.PaidBundle(user.Id, $"cs_page_{Guid.NewGuid():N}", null, "bundle_10", 400, "usd", 10, null), CancellationToken.None);
        using var key = await KeyAsync(user.Id, ApiKeyScopes.Read);

        var firstLedger = Data(await GetJsonAsync(key, "/api/v1/ledger?limit=100")).Select(l => l.GetProperty("id").GetString()!).ToList();
        firstLedger.Count.ShouldBe(23);
        var added = 0;
        var ledgerSeen = await PageAllAsync(key, "/api/v1/ledger", 5, async () =>
        {
            await Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 1, "arrived", $"page-{user.Id}-new-{added++}", "test");
        });
        ledgerSeen.ShouldBe(firstLedger);
        var fresh = Data(await GetJsonAsync(key, "/api/v1/ledger?limit=100"));
        fresh.Count.ShouldBe(23 + added);
        fresh.Take(added).ShouldAllBe(l => l.GetProperty("reason").GetString() == "arrived");
        fresh[0].GetProperty("balanceAfter").GetInt64().ShouldBe(23 + added);

        var firstPayments = Data(await GetJsonAsync(key, "/api/v1/payments?limit=100")).Select(p => p.GetProperty("id").GetString()!).ToList();
        firstPayments.Count.ShouldBe(12);
        var paymentsSeen = await PageAllAsync(key, "/api/v1/payments", 5, () =>
            payments.RecordAsync(Payment.PaidBundle(user.Id, $"cs_new_{Guid.NewGuid():N}", null, "bundle_10", 400, "usd", 10, null), CancellationToken.None));
        paymentsSeen.ShouldBe(firstPayments);
        (await GetJsonAsync(key, "/api/v1/payments?limit=100")).GetProperty("data").GetArrayLength().ShouldBe(14);

        // Default page size is 10, as for generations.
        var defaults = await GetJsonAsync(key, "/api/v1/ledger");
        defaults.GetProperty("data").GetArrayLength().ShouldBe(10);
        defaults.GetProperty("has_more").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task BadPagingInput_AndAnotherCustomersCursor_AreRefusedWithTheGenerationsCodes()
    {
        var (me, _) = await app.SignedInUserAsync();
        var (them, _) = await app.SignedInUserAsync();
        await Ledger.GrantAsync(me.Id, CreditBucket.Prepaid, 2, "mine", $"bad-{me.Id}", "test");
        await Ledger.GrantAsync(them.Id, CreditBucket.Prepaid, 2, "theirs", $"bad-{them.Id}", "test");
        var payments = app.Services.GetRequiredService<Payments>();
        await payments.RecordAsync(Payment.PaidBundle(me.Id, $"cs_bad_{Guid.NewGuid():N}", null, "bundle_10", 400, "usd", 10, null), CancellationToken.None);
        await payments.RecordAsync(Payment.PaidBundle(them.Id, $"cs_bad_{Guid.NewGuid():N}", null, "bundle_10", 400, "usd", 10, null), CancellationToken.None);
        using var mine = await KeyAsync(me.Id, ApiKeyScopes.Read);
        using var theirs = await KeyAsync(them.Id, ApiKeyScopes.Read);
        var theirLine = Data(await GetJsonAsync(theirs, "/api/v1/ledger"))[0].GetProperty("id").GetString()!;
        var theirPayment = Data(await GetJsonAsync(theirs, "/api/v1/payments"))[0].GetProperty("id").GetString()!;
        var myLine = Data(await GetJsonAsync(mine, "/api/v1/ledger"))[0].GetProperty("id").GetString()!;
        var myPayment = Data(await GetJsonAsync(mine, "/api/v1/payments"))[0].GetProperty("id").GetString()!;

        foreach (var route in new[] { "/api/v1/ledger", "/api/v1/payments" })
        {
            foreach (var limit in new[] { "0", "101", "abc", "1.5", "", "-1" })
                await ShouldBeProblemAsync(await mine.GetAsync($"{route}?limit={limit}"), HttpStatusCode.BadRequest, "validation_failed", "limit");
            await ShouldBeProblemAsync(await mine.GetAsync($"{route}?limit=2&limit=3"), HttpStatusCode.BadRequest, "validation_failed", "limit");
            foreach (var other in new[] { "offset=5", "page=2", "ending_before=cl_1", "pageSize=5" })
                await ShouldBeProblemAsync(await mine.GetAsync($"{route}?{other}"), HttpStatusCode.BadRequest, "parameter_unknown", other.Split('=')[0]);
            foreach (var cursor in new[] { "nonsense", "cl_999999999", "pay_999999999", "cl_-1", "cl_", "%20", "cl_1%20", "99999999999999999999999" })
                await ShouldBeProblemAsync(await mine.GetAsync($"{route}?starting_after={cursor}"), HttpStatusCode.BadRequest, "resource_missing", "starting_after");
        }
        // Another customer's ids, and an id of the other list, are as unknown as a made-up one.
        await ShouldBeProblemAsync(await mine.GetAsync($"/api/v1/ledger?starting_after={theirLine}"), HttpStatusCode.BadRequest, "resource_missing", "starting_after");
        await ShouldBeProblemAsync(await mine.GetAsync($"/api/v1/payments?starting_after={theirPayment}"), HttpStatusCode.BadRequest, "resource_missing", "starting_after");
        await ShouldBeProblemAsync(await mine.GetAsync($"/api/v1/ledger?starting_after={myPayment}"), HttpStatusCode.BadRequest, "resource_missing", "starting_after");
        await ShouldBeProblemAsync(await mine.GetAsync($"/api/v1/payments?starting_after={myLine}"), HttpStatusCode.BadRequest, "resource_missing", "starting_after");
        // Their own cursors work and end the list.
        var last = await GetJsonAsync(mine, $"/api/v1/ledger?starting_after={myLine}");
        last.GetProperty("data").GetArrayLength().ShouldBe(0);
        last.GetProperty("has_more").GetBoolean().ShouldBeFalse();
        (await GetJsonAsync(mine, $"/api/v1/payments?starting_after={myPayment}")).GetProperty("data").GetArrayLength().ShouldBe(0);
        // Only the caller's rows.
        Data(await GetJsonAsync(mine, "/api/v1/ledger?limit=100")).ShouldAllBe(l => l.GetProperty("reason").GetString() == "mine");
        Data(await GetJsonAsync(mine, "/api/v1/payments?limit=100")).Count.ShouldBe(1);
    }

    [Fact]
    public async Task TheReads_NeedTheReadScope_AndASignIn()
    {
        var (user, _) = await app.SignedInUserAsync();
        using var generateOnly = await KeyAsync(user.Id, ApiKeyScopes.Generate);
        using var readOnly = await KeyAsync(user.Id, ApiKeyScopes.Read);
        using var anonymous = app.NewClient();
        using var badKey = app.NewClient();
        badKey.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "gsk_not_a_key");
        foreach (var route in new[] { "/api/v1/billing", "/api/v1/ledger", "/api/v1/payments" })
        {
            var refused = await generateOnly.GetAsync(route);
            await ShouldBeProblemAsync(refused, HttpStatusCode.Forbidden, "insufficient_scope");
            refused.Headers.WwwAuthenticate.ToString().ShouldContain("scope=\"read\"");
            await ShouldBeProblemAsync(await anonymous.GetAsync(route), HttpStatusCode.Unauthorized, "unauthenticated");
            await ShouldBeProblemAsync(await badKey.GetAsync(route), HttpStatusCode.Unauthorized, "unauthenticated");
            (await readOnly.GetAsync(route)).StatusCode.ShouldBe(HttpStatusCode.OK);
            (await readOnly.PostAsJsonAsync(route, new { })).StatusCode.ShouldBe(HttpStatusCode.MethodNotAllowed);
        }
    }

    [Fact]
    public async Task TenConcurrentGenerations_Each201sBalance_AgreesWithTheLedger()
    {
        var (user, _) = await app.SignedInUserAsync();
        await Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 20, "test credits", $"concurrent-{user.Id}", "test");
        using var key = await KeyAsync(user.Id, ApiKeyScopes.Generate, ApiKeyScopes.Read);

        var answers = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => GenerateAsync(key, $"parallel {i}")));

        var ledger = Data(await GetJsonAsync(key, "/api/v1/ledger?limit=100"));
        var debits = ledger.Where(l => l.GetProperty("kind").GetString() == "debit").ToList();
        debits.Count.ShouldBe(10);
        debits.Select(l => l.GetProperty("balanceAfter").GetInt64()).ShouldBe(Enumerable.Range(10, 10).Select(n => (long)n));
        var debitOf = debits.ToDictionary(l => Str(l, "generationId")!, l => l.GetProperty("balanceAfter").GetInt64());
        foreach (var answer in answers)
        {
            var balance = answer.GetProperty("balance");
            var reported = balance.GetProperty("prepaidCredits").GetInt64();
            // Read after its own charge committed: never more than its own ledger line left, never less than the end.
            reported.ShouldBeLessThanOrEqualTo(debitOf[answer.GetProperty("id").GetString()!]);
            reported.ShouldBeGreaterThanOrEqualTo(10);
            balance.GetProperty("creditsRemaining").GetInt64().ShouldBe(reported);
        }
        answers.Min(a => a.GetProperty("balance").GetProperty("prepaidCredits").GetInt64()).ShouldBe(10);
        (await GetJsonAsync(key, "/api/v1/billing")).GetProperty("balance").GetProperty("prepaidCredits").GetInt64().ShouldBe(10);
        ledger[0].GetProperty("balanceAfter").GetInt64().ShouldBe(10);
    }

    [Fact]
    public async Task AReplayed201_CarriesTheBalanceWithoutASecondCharge_AndARefusalCarriesNone()
    {
        var (user, _) = await app.SignedInUserAsync();
        await Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 2, "test credits", $"replay-{user.Id}", "test");
        using var key = await KeyAsync(user.Id, ApiKeyScopes.Generate, ApiKeyScopes.Read);

        async Task<HttpResponseMessage> PostAsync(string idempotencyKey)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/generations") { Content = JsonContent.Create(new { prompt = "a replayed kite" }) };
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            return await key.SendAsync(request);
        }

        var first = await PostAsync("replay-1");
        first.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("balance").GetProperty("prepaidCredits").GetInt64().ShouldBe(1);
        var again = await PostAsync("replay-1");
        again.StatusCode.ShouldBe(HttpStatusCode.Created);
        again.Headers.GetValues("Idempotent-Replayed").ShouldBe(["true"]);
        (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("balance").GetProperty("prepaidCredits").GetInt64().ShouldBe(1);

        (await PostAsync("replay-2")).StatusCode.ShouldBe(HttpStatusCode.Created);
        var refused = await PostAsync("replay-3");
        refused.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        (await refused.Content.ReadFromJsonAsync<JsonElement>()).TryGetProperty("balance", out _).ShouldBeFalse();
        Data(await GetJsonAsync(key, "/api/v1/ledger")).Count(l => l.GetProperty("kind").GetString() == "debit").ShouldBe(2);
    }
}
