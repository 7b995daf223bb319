using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Admin;
using GenSaaS.Web.Tests.Features.Billing;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>
/// Admin refunds over the admin API and the customer page, against the emulator: full and partial refunds take back the
/// bundle's share of credits once (the webhook that follows changes nothing again), one audit entry each; replays, double
/// submits and concurrent calls with one key refund once; over-refunds, bad input, non-admins and a failing Stripe change nothing.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class RefundTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private sealed record Bought(IdentityUser Customer, long PaymentId, string PaymentIntentId)
    {
        public string PublicId => $"pay_{PaymentId}";
    }

    /// <summary>A customer who bought bundle_10 (10 credits for 4.00 USD), its purchase recorded and granted.</summary>
    private async Task<Bought> BundleBuyerAsync()
    {
        var (customer, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(customer.Id) == 10, "10 credits granted");
        // The grant comes first; the purchase's payment row follows it.
        const string PaidSql = "SELECT id, payment_intent_id FROM payments WHERE user_id = @Id AND kind = 'bundle' AND status = 'paid' AND payment_intent_id IS NOT NULL";
        await BillingTestApp.EventuallyAsync(async () => (await app.QueryAsync<(long, string?)>(PaidSql, new { customer.Id })).Item2 is not null, "purchase recorded");
        var (id, intent) = await app.QueryAsync<(long, string)>(PaidSql, new { customer.Id });
        return new Bought(customer, id, intent);
    }

    private async Task<HttpClient> KeyAsync(string userId, params string[] scopes)
    {
        var created = await app.Services.GetRequiredService<ApiKeyStore>().CreateAsync(userId, "refund test", scopes, CancellationToken.None);
        var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", created!.Value.Key);
        return client;
    }

    private async Task<(IdentityUser Admin, HttpClient Key)> AdminKeyAsync()
    {
        var admin = await app.CreateUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);
        return (admin, await KeyAsync(admin.Id, ApiKeyScopes.Admin, ApiKeyScopes.Read));
    }

    private static Task<HttpResponseMessage> RefundAsync(HttpClient client, string paymentId, object body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/admin/payments/{paymentId}/refund") { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null)
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        return client.SendAsync(request);
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await JsonAsync(response, status);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        body.GetProperty("code").GetString().ShouldBe(code);
        return body;
    }

    /// <summary>The refunds Stripe (the emulator) holds for the payment intent: what was really given back.</summary>
    private async Task<List<Refund>> StripeRefundsAsync(string paymentIntentId) =>
        (await new RefundService(app.StripeClient).ListAsync(new RefundListOptions { PaymentIntent = paymentIntentId, Limit = 100 })).Data;

    private Task<List<(string Action, string? Target, string Actor, string? Reason, string? Before, string? After)>> AuditAsync(string target) =>
        app.ListAsync<(string, string?, string, string?, string?, string?)>(
            "SELECT action, target, actor, reason, before_json, after_json FROM audit_log WHERE target = @target ORDER BY id", new { target });

    private Task<List<(long Amount, string Reference, string Actor)>> ReversalsAsync(string userId) =>
        app.ListAsync<(long, string, string)>(
            "SELECT amount, reference, actor FROM credit_ledger WHERE user_id = @userId AND kind = 'refund_reversal' ORDER BY id", new { userId });

    private Task<long> RefundRowsAsync(string paymentIntentId) =>
        app.QueryAsync<long>("SELECT count(*) FROM payments WHERE kind = 'refund' AND payment_intent_id = @paymentIntentId", new { paymentIntentId });

    /// <summary>Waits until every charge.refunded event of the payment's charge was applied by the webhook.</summary>
    private async Task WebhooksAppliedAsync(string paymentIntentId, int refunds)
    {
        var chargeId = (await new PaymentIntentService(app.StripeClient).GetAsync(paymentIntentId)).LatestChargeId;
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE type = 'charge.refunded' AND object_id = @chargeId AND status = 'applied'",
                new { chargeId }) == refunds, $"{refunds} charge.refunded event(s) applied");
    }

    [Fact]
    public async Task Api_PartialThenRest_TakesBackTheSharesOnce_WithOneAuditEntryEach_AndTheWebhookChangesNothingAgain()
    {
        var (admin, key) = await AdminKeyAsync();
        var bought = await BundleBuyerAsync();

        var partial = await JsonAsync(await RefundAsync(key, bought.PublicId, new { amount = 100, reason = "  unhappy with two images  " }), HttpStatusCode.OK);
        partial.GetProperty("object").GetString().ShouldBe("payment_refund");
        partial.GetProperty("payment").GetString().ShouldBe(bought.PublicId);
        partial.GetProperty("customer").GetString().ShouldBe(bought.Customer.Id);
        partial.GetProperty("amount").GetInt64().ShouldBe(100);
        partial.GetProperty("currency").GetString().ShouldBe("usd");
        partial.GetProperty("paymentAmount").GetInt64().ShouldBe(400);
        partial.GetProperty("refundedTotal").GetInt64().ShouldBe(100);
        partial.GetProperty("remaining").GetInt64().ShouldBe(300);
        partial.GetProperty("creditsTakenBack").GetInt32().ShouldBe(2); // 10 × 100 / 400, rounded down
        partial.GetProperty("prepaidCredits").GetInt64().ShouldBe(8);
        partial.GetProperty("replayed").GetBoolean().ShouldBeFalse();
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(8);

        var refunds = await StripeRefundsAsync(bought.PaymentIntentId);
        refunds.ShouldHaveSingleItem().Amount.ShouldBe(100);
        partial.GetProperty("refund").GetString().ShouldBe(refunds[0].Id);

        var entry = (await AuditAsync(bought.PublicId)).ShouldHaveSingleItem();
        entry.Action.ShouldBe(AuditActions.PaymentRefund);
        entry.Actor.ShouldBe(admin.Id);
        entry.Reason.ShouldBe("unhappy with two images");
        var before = JsonDocument.Parse(entry.Before!).RootElement;
        var after = JsonDocument.Parse(entry.After!).RootElement;
        (before.GetProperty("prepaid").GetInt64(), before.GetProperty("refunded").GetInt64(), before.GetProperty("remaining").GetInt64()).ShouldBe((10L, 0L, 400L));
        (after.GetProperty("prepaid").GetInt64(), after.GetProperty("refunded").GetInt64(), after.GetProperty("remaining").GetInt64()).ShouldBe((8L, 100L, 300L));
        after.GetProperty("refundId").GetString().ShouldBe(refunds[0].Id);
        after.GetProperty("creditsTakenBack").GetInt32().ShouldBe(2);
        partial.GetProperty("auditId").GetString().ShouldStartWith("aud_");

        // Stripe's charge.refunded arrives: the refund is already recorded, nothing is taken back twice.
        await WebhooksAppliedAsync(bought.PaymentIntentId, 1);
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(8);
        (await RefundRowsAsync(bought.PaymentIntentId)).ShouldBe(1);

        // The rest, no amount: all that remains. 10 × 400 / 400 − 2 = 8 more credits.
        var rest = await JsonAsync(await RefundAsync(key, bought.PublicId, new { reason = "refund the rest" }), HttpStatusCode.OK);
        rest.GetProperty("amount").GetInt64().ShouldBe(300);
        rest.GetProperty("creditsTakenBack").GetInt32().ShouldBe(8);
        rest.GetProperty("remaining").GetInt64().ShouldBe(0);
        await WebhooksAppliedAsync(bought.PaymentIntentId, 2);
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(0);
        (await ReversalsAsync(bought.Customer.Id)).Select(r => r.Amount).ShouldBe([-2L, -8L]);
        (await StripeRefundsAsync(bought.PaymentIntentId)).Sum(r => r.Amount).ShouldBe(400);
        (await AuditAsync(bought.PublicId)).Count.ShouldBe(2);
        (await RefundRowsAsync(bought.PaymentIntentId)).ShouldBe(2);

        // Nothing remains: refused with a clear answer, nothing changed.
        var again = await ProblemAsync(await RefundAsync(key, bought.PublicId, new { reason = "once more" }), HttpStatusCode.Conflict, "refund_too_large");
        again.GetProperty("detail").GetString()!.ShouldContain("already been refunded in full");
        (await StripeRefundsAsync(bought.PaymentIntentId)).Count.ShouldBe(2);
        (await AuditAsync(bought.PublicId)).Count.ShouldBe(2);
    }

    [Fact]
    public async Task Refunds_CarryTheAdminsReasonAndWhoMadeIt_InTheirStripeMetadata_FromTheApiAndThePage()
    {
        var (admin, key) = await AdminKeyAsync();
        var bought = await BundleBuyerAsync();
        const string reason = "Charged twice — ticket #4711, \"customer\" asked nicely";
        var answer = await JsonAsync(await RefundAsync(key, bought.PublicId, new { amount = 100, reason = "  " + reason + "\n" }), HttpStatusCode.OK);

        var refunds = new RefundService(app.StripeClient);
        var refund = await refunds.GetAsync(answer.GetProperty("refund").GetString());
        refund.Metadata.ShouldBe(new Dictionary<string, string>
        {
            ["reason"] = reason, ["admin"] = admin.Id, ["admin_via"] = "api_key", ["payment"] = bought.PublicId,
        }, ignoreOrder: true);
        refund.Reason.ShouldBeNull("Stripe's reason is an enum the admin did not pick");

        // From the customer page, with the longest reason allowed: it fits Stripe's 500-character metadata value.
        var (pageAdmin, browser) = await app.SignedInUserAsync(admin: true);
        var refundUrl = $"/admin/payments/{bought.PublicId}/refund";
        var form = await browser.GetStringAsync(refundUrl);
        var longest = new string('é', 499) + "!";
        var fields = new Dictionary<string, string> { ["Input.Amount"] = "1.00", ["Input.Reason"] = longest, ["Input.Token"] = Token(form) };
        var review = await PostAsync(browser, refundUrl + "?handler=Review", form, fields);
        var confirmation = await review.Content.ReadAsStringAsync();
        review.StatusCode.ShouldBe(HttpStatusCode.OK, confirmation);
        (await PostAsync(browser, refundUrl + "?handler=Refund", confirmation, fields)).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        var fromPage = (await StripeRefundsAsync(bought.PaymentIntentId)).Single(r => r.Id != refund.Id);
        fromPage.Metadata["reason"].ShouldBe(longest);
        fromPage.Metadata["admin"].ShouldBe(pageAdmin.Id);
        fromPage.Metadata["admin_via"].ShouldBe("admin");
        fromPage.Metadata["payment"].ShouldBe(bought.PublicId);
    }

    [Fact]
    public async Task Api_OverRefund_IsRefusedWithNothingChanged_AndTheEmulatorRefusesItInStripesWords()
    {
        var (_, key) = await AdminKeyAsync();
        var bought = await BundleBuyerAsync();

        var refused = await ProblemAsync(await RefundAsync(key, bought.PublicId, new { amount = 401, reason = "too much" }), HttpStatusCode.Conflict, "refund_too_large");
        refused.GetProperty("detail").GetString()!.ShouldContain("4.01 USD");
        (await StripeRefundsAsync(bought.PaymentIntentId)).ShouldBeEmpty();
        (await AuditAsync(bought.PublicId)).ShouldBeEmpty();
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(10);

        // Stripe's own refusals, as Stripe words them.
        var stripeRefunds = new RefundService(app.StripeClient);
        var tooLarge = await Should.ThrowAsync<StripeException>(() => stripeRefunds.CreateAsync(new RefundCreateOptions { PaymentIntent = bought.PaymentIntentId, Amount = 500 }));
        tooLarge.StripeError.Code.ShouldBe("amount_too_large");
        tooLarge.StripeError.Param.ShouldBe("amount");
        tooLarge.StripeError.Message.ShouldBe("Refund amount ($5.00) is greater than charge amount ($4.00)");

        // A refund made at Stripe that the app has not seen yet: the app's check passes, Stripe refuses, nothing changes here.
        await stripeRefunds.CreateAsync(new RefundCreateOptions { PaymentIntent = bought.PaymentIntentId, Amount = 300 });
        var afterOne = await Should.ThrowAsync<StripeException>(() => stripeRefunds.CreateAsync(new RefundCreateOptions { PaymentIntent = bought.PaymentIntentId, Amount = 200 }));
        afterOne.StripeError.Message.ShouldBe("Refund amount ($2.00) is greater than unrefunded amount on charge ($1.00)");
        await stripeRefunds.CreateAsync(new RefundCreateOptions { PaymentIntent = bought.PaymentIntentId });
        var full = await Should.ThrowAsync<StripeException>(() => stripeRefunds.CreateAsync(new RefundCreateOptions { PaymentIntent = bought.PaymentIntentId, Amount = 1 }));
        full.StripeError.Code.ShouldBe("charge_already_refunded");
    }

    [Fact]
    public async Task Api_AKeyStripeSawWithOtherParameters_IsAConflict_ExactlyWhatRemainsIsRefunded_AndTheKeyOnAnotherPaymentIsAConflict()
    {
        var (admin, key) = await AdminKeyAsync();
        var bought = await BundleBuyerAsync();

        // An earlier try with this key reached Stripe (a refund of 0.50) but its answer was lost; the key now comes with 1.00.
        await new RefundService(app.StripeClient).CreateAsync(
            new RefundCreateOptions { PaymentIntent = bought.PaymentIntentId, Amount = 50, Expand = ["charge"] },
            new RequestOptions { IdempotencyKey = PaymentRefunds.StripeKey($"admin-api:{admin.Id}:lost-answer") });
        var conflict = await ProblemAsync(await RefundAsync(key, bought.PublicId, new { amount = 100, reason = "goodwill" }, "lost-answer"),
            HttpStatusCode.Conflict, "idempotency_conflict");
        conflict.GetProperty("detail").GetString()!.ShouldContain("nothing was refunded");
        (await StripeRefundsAsync(bought.PaymentIntentId)).ShouldHaveSingleItem().Amount.ShouldBe(50);
        (await AuditAsync(bought.PublicId)).ShouldBeEmpty();

        // Once the webhook has recorded that refund, exactly what remains (3.50) can be refunded, by amount.
        await WebhooksAppliedAsync(bought.PaymentIntentId, 1);
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(9); // 10 × 50 / 400, rounded down: 1 taken back
        var rest = await JsonAsync(await RefundAsync(key, bought.PublicId, new { amount = 350, reason = "the rest" }, "exact-rest"), HttpStatusCode.OK);
        (rest.GetProperty("amount").GetInt64(), rest.GetProperty("refundedTotal").GetInt64(), rest.GetProperty("remaining").GetInt64()).ShouldBe((350L, 400L, 0L));
        rest.GetProperty("creditsTakenBack").GetInt32().ShouldBe(9);
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(0);

        // The same key and amount for another payment is not the same refund.
        await ProblemAsync(await RefundAsync(key, "pay_99999999", new { amount = 350, reason = "the rest" }, "exact-rest"), HttpStatusCode.Conflict, "idempotency_conflict");
        (await StripeRefundsAsync(bought.PaymentIntentId)).Sum(r => r.Amount).ShouldBe(400);
        (await AuditAsync(bought.PublicId)).ShouldHaveSingleItem();
    }

    [Fact]
    public async Task Api_ConcurrentCallsWithOneIdempotencyKey_RefundOnce_AndTheKeyWithAnotherAmountIsAConflict()
    {
        var (_, key) = await AdminKeyAsync();
        var bought = await BundleBuyerAsync();

        var answers = await Task.WhenAll(Enumerable.Range(0, 6)
            .Select(_ => RefundAsync(key, bought.PublicId, new { amount = 200, reason = "double charged" }, "refund-key-1")));
        var bodies = new List<JsonElement>();
        foreach (var answer in answers)
            bodies.Add(await JsonAsync(answer, HttpStatusCode.OK));
        bodies.Select(b => b.GetProperty("refund").GetString()).Distinct().ShouldHaveSingleItem();
        bodies.Count(b => !b.GetProperty("replayed").GetBoolean()).ShouldBe(1);
        bodies.ShouldAllBe(b => b.GetProperty("creditsTakenBack").GetInt32() == 5);

        (await StripeRefundsAsync(bought.PaymentIntentId)).ShouldHaveSingleItem().Amount.ShouldBe(200);
        (await AuditAsync(bought.PublicId)).ShouldHaveSingleItem();
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(5);

        // A replay later, after the webhook: the same answer, still once.
        await WebhooksAppliedAsync(bought.PaymentIntentId, 1);
        var replay = await JsonAsync(await RefundAsync(key, bought.PublicId, new { amount = 200, reason = "double charged" }, "refund-key-1"), HttpStatusCode.OK);
        replay.GetProperty("replayed").GetBoolean().ShouldBeTrue();
        replay.GetProperty("auditId").ValueKind.ShouldBe(JsonValueKind.Null);
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(5);

        await ProblemAsync(await RefundAsync(key, bought.PublicId, new { amount = 100, reason = "other" }, "refund-key-1"), HttpStatusCode.Conflict, "idempotency_conflict");
        (await StripeRefundsAsync(bought.PaymentIntentId)).Count.ShouldBe(1);
        (await AuditAsync(bought.PublicId)).Count.ShouldBe(1);
    }

    [Fact]
    public async Task Api_BadInput_IsValidationFailed_NamingTheField_AndUnknownOrUnrefundablePaymentsChangeNothing()
    {
        var (_, key) = await AdminKeyAsync();
        var bought = await BundleBuyerAsync();

        foreach (var (body, field) in new (object Body, string Field)[]
                 {
                     (new { amount = 100 }, "reason"),
                     (new { amount = 100, reason = "   " }, "reason"),
                     (new { amount = 100, reason = 5 }, "reason"),
                     (new { amount = "100", reason = "x" }, "amount"),
                     (new { amount = 0, reason = "x" }, "amount"),
                     (new { amount = -5, reason = "x" }, "amount"),
                     (new { amount = 1.5, reason = "x" }, "amount"),
                     (new { reason = new string('r', 501) }, "reason"),
                     (new { reason = "x", bucket = "trial" }, "bucket"),
                 })
        {
            var problem = await ProblemAsync(await RefundAsync(key, bought.PublicId, body), HttpStatusCode.BadRequest, "validation_failed");
            problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue($"{JsonSerializer.Serialize(body)} names {field}: {problem}");
        }
        var notJson = await key.PostAsync($"/api/v1/admin/payments/{bought.PublicId}/refund", new StringContent("amount=1", System.Text.Encoding.UTF8, "application/json"));
        await ProblemAsync(notJson, HttpStatusCode.BadRequest, "validation_failed");

        await ProblemAsync(await RefundAsync(key, "pay_99999999", new { reason = "x" }), HttpStatusCode.NotFound, "not_found");
        await ProblemAsync(await RefundAsync(key, "ch_123", new { reason = "x" }), HttpStatusCode.NotFound, "not_found");

        // A hold took no money: nothing to refund.
        var holdId = await app.QueryAsync<long>("""
            INSERT INTO payments (user_id, kind, stripe_id, payment_intent_id, amount_minor, currency, status, created_at, updated_at)
            VALUES (@Id, 'authorisation', @pi, @pi, 50, 'usd', 'authorised', '2026-01-01 00:00:00', '2026-01-01 00:00:00') RETURNING id
            """, new { bought.Customer.Id, pi = "pi_hold_" + Guid.NewGuid().ToString("N") });
        await ProblemAsync(await RefundAsync(key, $"pay_{holdId}", new { reason = "x" }), HttpStatusCode.Conflict, "not_refundable");

        (await StripeRefundsAsync(bought.PaymentIntentId)).ShouldBeEmpty();
        (await app.QueryAsync<long>("SELECT count(*) FROM audit_log WHERE action = 'payment.refund' AND target IN (@a, @b)",
            new { a = bought.PublicId, b = $"pay_{holdId}" })).ShouldBe(0);
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(10);
    }

    [Fact]
    public async Task NonAdmins_Get403_OnTheRouteAndThePage_AndNothingIsRefunded()
    {
        var bought = await BundleBuyerAsync();
        var (admin, _) = await AdminKeyAsync();
        var adminWithoutScope = await KeyAsync(admin.Id, ApiKeyScopes.Read, ApiKeyScopes.Generate);
        await ProblemAsync(await RefundAsync(adminWithoutScope, bought.PublicId, new { reason = "x" }), HttpStatusCode.Forbidden, "insufficient_scope");

        var (customer, cookie) = await app.SignedInUserAsync();
        var customerKey = await KeyAsync(customer.Id, ApiKeyScopes.Admin);
        await ProblemAsync(await RefundAsync(customerKey, bought.PublicId, new { reason = "x" }), HttpStatusCode.Forbidden, "forbidden");
        (await cookie.GetAsync($"/admin/payments/{bought.PublicId}/refund")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        // The buyer themself, signed in, may not refund their own payment.
        var buyerKey = await KeyAsync(bought.Customer.Id, ApiKeyScopes.Admin, ApiKeyScopes.Read);
        await ProblemAsync(await RefundAsync(buyerKey, bought.PublicId, new { reason = "x" }), HttpStatusCode.Forbidden, "forbidden");

        (await StripeRefundsAsync(bought.PaymentIntentId)).ShouldBeEmpty();
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(10);
    }

    [Fact]
    public async Task StripeFailing_Is503_WithNothingChanged_AndTheSameKeyLaterRefundsOnce()
    {
        var (_, key) = await AdminKeyAsync();
        var bought = await BundleBuyerAsync();
        var emulator = app.Services.GetRequiredService<EmulatedStripe>();
        // Every try Stripe.net makes (the first and its retries) is answered 500 before any work.
        emulator.SetApiFaults(new ApiFaults { ServerErrorPercent = 100, Route = "POST /refunds" });
        HttpResponseMessage failed;
        try
        {
            failed = await RefundAsync(key, bought.PublicId, new { amount = 100, reason = "goodwill" }, "flaky-1");
        }
        finally
        {
            emulator.SetApiFaults(new ApiFaults());
        }
        var problem = await ProblemAsync(failed, HttpStatusCode.ServiceUnavailable, "stripe_unavailable");
        problem.GetProperty("detail").GetString()!.ShouldContain("nothing was recorded");
        failed.Headers.RetryAfter.ShouldNotBeNull();
        (await StripeRefundsAsync(bought.PaymentIntentId)).ShouldBeEmpty();
        (await AuditAsync(bought.PublicId)).ShouldBeEmpty();
        (await RefundRowsAsync(bought.PaymentIntentId)).ShouldBe(0);
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(10);

        var retried = await JsonAsync(await RefundAsync(key, bought.PublicId, new { amount = 100, reason = "goodwill" }, "flaky-1"), HttpStatusCode.OK);
        retried.GetProperty("replayed").GetBoolean().ShouldBeFalse();
        (await StripeRefundsAsync(bought.PaymentIntentId)).ShouldHaveSingleItem();
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(8);
        (await AuditAsync(bought.PublicId)).ShouldHaveSingleItem();
    }

    // ---- the customer page ----

    private static string Token(string html) =>
        Regex.Match(html, "name=\"Input.Token\" value=\"([0-9a-f]{32})\"") is { Success: true } m ? m.Groups[1].Value : throw new ShouldAssertException("no form token on the page");

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string url, string html, Dictionary<string, string> fields)
    {
        var form = new Dictionary<string, string>(fields) { ["__RequestVerificationToken"] = BillingTestApp.AntiforgeryToken(html) };
        return await client.PostAsync(url, new FormUrlEncodedContent(form));
    }

    [Fact]
    public async Task Page_PartialThenFull_WithAConfirmation_AndADoubleSubmitOrSecondTabRefundsOnce()
    {
        var bought = await BundleBuyerAsync();
        var (admin, browser) = await app.SignedInUserAsync(admin: true);
        var refundUrl = $"/admin/payments/{bought.PublicId}/refund";

        var customerPage = await browser.GetStringAsync($"/admin/customers/{bought.Customer.Id}");
        customerPage.ShouldContain($"data-testid=\"refund-{bought.PublicId}\"");
        customerPage.ShouldContain($"href=\"{refundUrl}\"");

        var form = await browser.GetStringAsync(refundUrl);
        form.ShouldContain("data-testid=\"refund-review\"");
        var token = Token(form);

        // Without a reason: the form again with the error, nothing asked of Stripe.
        var noReason = await PostAsync(browser, refundUrl + "?handler=Review", form, new() { ["Input.Amount"] = "1.00", ["Input.Reason"] = "", ["Input.Token"] = token });
        noReason.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await noReason.Content.ReadAsStringAsync()).ShouldContain("Say why");
        // More than was paid: refused on the form.
        var tooMuch = await PostAsync(browser, refundUrl + "?handler=Review", form, new() { ["Input.Amount"] = "4.01", ["Input.Reason"] = "x", ["Input.Token"] = token });
        (await tooMuch.Content.ReadAsStringAsync()).ShouldContain("more than remains");

        var review = await PostAsync(browser, refundUrl + "?handler=Review", form, new() { ["Input.Amount"] = "1.00", ["Input.Reason"] = "late delivery", ["Input.Token"] = token });
        var confirmation = await review.Content.ReadAsStringAsync();
        review.StatusCode.ShouldBe(HttpStatusCode.OK, confirmation);
        confirmation.ShouldContain("data-testid=\"refund-confirmation\"");
        confirmation.ShouldContain("Refund 1.00 USD");
        (await StripeRefundsAsync(bought.PaymentIntentId)).ShouldBeEmpty();

        // The confirmation sent three times at once (a double click and a second tab of the same page), then once more.
        var confirmFields = new Dictionary<string, string> { ["Input.Amount"] = "1.00", ["Input.Reason"] = "late delivery", ["Input.Token"] = token };
        var confirms = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => PostAsync(browser, refundUrl + "?handler=Refund", confirmation, confirmFields)));
        confirms.ShouldAllBe(r => r.StatusCode == HttpStatusCode.Redirect);
        confirms[0].Headers.Location!.ToString().ShouldBe($"/admin/customers/{bought.Customer.Id}");
        var resent = await PostAsync(browser, refundUrl + "?handler=Refund", confirmation, confirmFields);
        resent.StatusCode.ShouldBe(HttpStatusCode.Redirect);

        (await StripeRefundsAsync(bought.PaymentIntentId)).ShouldHaveSingleItem().Amount.ShouldBe(100);
        var entry = (await AuditAsync(bought.PublicId)).ShouldHaveSingleItem();
        entry.Actor.ShouldBe(admin.Id);
        entry.Reason.ShouldBe("late delivery");
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(8);
        var shown = await browser.GetStringAsync($"/admin/customers/{bought.Customer.Id}");
        shown.ShouldContain("data-testid=\"status-message\"");
        shown.ShouldContain("already made");
        shown.ShouldContain("1.00 USD");

        // The rest: an empty amount refunds all that remains.
        form = await browser.GetStringAsync(refundUrl);
        form.ShouldContain("3.00 USD");
        token = Token(form);
        review = await PostAsync(browser, refundUrl + "?handler=Review", form, new() { ["Input.Amount"] = "", ["Input.Reason"] = "closing the account", ["Input.Token"] = token });
        confirmation = await review.Content.ReadAsStringAsync();
        confirmation.ShouldContain("all that remains, 3.00 USD");
        var rest = await PostAsync(browser, refundUrl + "?handler=Refund", confirmation, new() { ["Input.Amount"] = "", ["Input.Reason"] = "closing the account", ["Input.Token"] = token });
        rest.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await StripeRefundsAsync(bought.PaymentIntentId)).Sum(r => r.Amount).ShouldBe(400);
        await WebhooksAppliedAsync(bought.PaymentIntentId, 2);
        (await app.PrepaidAsync(bought.Customer.Id)).ShouldBe(0);
        (await ReversalsAsync(bought.Customer.Id)).Select(r => r.Amount).ShouldBe([-2L, -8L]);
        (await AuditAsync(bought.PublicId)).Count.ShouldBe(2);
        (await browser.GetStringAsync(refundUrl)).ShouldContain("data-testid=\"not-refundable\"");
    }
}
