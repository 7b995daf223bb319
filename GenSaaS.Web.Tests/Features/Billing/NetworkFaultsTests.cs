using System.Net;
using System.Net.Http.Json;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>Stripe calls that time out, are rate limited or fail at Stripe: retried with the same idempotency key, never doubled.</summary>
[Collection(BillingCollection.Name)]
public sealed class NetworkFaultsTests
{
    private static async Task<(string Output, int Exit)> RefundAsync(BillingTestApp app, params string[] args)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var command = scope.ServiceProvider.GetServices<ICliCommand>().Single(c => c.Name == "billing refund");
        var output = new StringWriter();
        var exit = await command.RunAsync(new CliArgs(args), output, CancellationToken.None);
        return (output.ToString(), exit);
    }

    private static async Task<string> BundleChargeAsync(BillingTestApp app, HttpClient client)
    {
        var sessionId = await app.BuyAsync(client, "bundle_10");
        var session = await new Stripe.Checkout.SessionService(app.StripeClient).GetAsync(sessionId);
        return (await new PaymentIntentService(app.StripeClient).GetAsync(session.PaymentIntentId)).LatestChargeId;
    }

    [Fact]
    public async Task RefundCli_RunTwiceWithTheSameArguments_RefundsOnce_AndAnotherRequestIdRefundsAgain()
    {
        using var app = new BillingTestApp();
        var (_, client) = await app.SignedInUserAsync();
        var chargeId = await BundleChargeAsync(app, client);

        var first = await RefundAsync(app, "--charge", chargeId, "--amount", "100");
        var second = await RefundAsync(app, "--charge", chargeId, "--amount", "100");
        first.Exit.ShouldBe(0, first.Output);
        second.Exit.ShouldBe(0, second.Output);
        var refunds = await new RefundService(app.StripeClient).ListAsync(new RefundListOptions { Charge = chargeId });
        refunds.Data.Count.ShouldBe(1);
        refunds.Data[0].Amount.ShouldBe(100);

        var deliberate = await RefundAsync(app, "--charge", chargeId, "--amount", "100", "--request-id", "second-goodwill");
        deliberate.Exit.ShouldBe(0, deliberate.Output);
        (await new RefundService(app.StripeClient).ListAsync(new RefundListOptions { Charge = chargeId })).Data.Sum(r => r.Amount).ShouldBe(200);
        (await new ChargeService(app.StripeClient).GetAsync(chargeId)).AmountRefunded.ShouldBe(200);
    }

    [Fact]
    public async Task RefundCli_SaysWhatItDid_WhatStripeRefused_AndWhenStripeDidNotAnswer_AndRunAgainRefundsOnce()
    {
        using var app = App(retries: 0, timeoutSeconds: 1);
        var (_, client) = await app.SignedInUserAsync();
        var chargeId = await BundleChargeAsync(app, client);
        var stripeRefunds = new RefundService(app.StripeClient);

        // A zero amount is a usage error, before Stripe is asked.
        (await Should.ThrowAsync<CliUsageException>(() => RefundAsync(app, "--charge", chargeId, "--amount", "0")))
            .Message.ShouldBe("--amount must be positive (minor units, e.g. 200 for 2.00)");
        (await stripeRefunds.ListAsync(new RefundListOptions { Charge = chargeId })).Data.ShouldBeEmpty();

        // Made: the refund, its amount and state, and the idempotency key of the (trimmed) request id.
        var made = await RefundAsync(app, "--charge", chargeId, "--amount", "100", "--request-id", "  goodwill-1  ");
        made.Exit.ShouldBe(0, made.Output);
        var refund = (await stripeRefunds.ListAsync(new RefundListOptions { Charge = chargeId })).Data.ShouldHaveSingleItem();
        made.Output.ShouldBe($"Refund {refund.Id}: 100 usd on {chargeId} is succeeded (idempotency key refund:{chargeId}:100:goodwill-1). " +
                             $"Credits are taken back when Stripe's charge.refunded event arrives.{Environment.NewLine}");
        (await RefundAsync(app, "--charge", chargeId, "--amount", "100", "--request-id", "goodwill-1")).Output.ShouldStartWith($"Refund {refund.Id}:");
        (await stripeRefunds.ListAsync(new RefundListOptions { Charge = chargeId })).Data.ShouldHaveSingleItem();

        // More than remains: Stripe refuses, in Stripe's words.
        var refused = await RefundAsync(app, "--charge", chargeId, "--amount", "301");
        refused.Exit.ShouldBe(1);
        refused.Output.ShouldBe($"Stripe refused the refund: Refund amount ($3.01) is greater than unrefunded amount on charge ($3.00){Environment.NewLine}");

        // Stripe does the refund but its answer never comes back in time: said so, and the same command again refunds once.
        app.Emulator.SetApiFaults(new ApiFaults { TimeoutPercent = 100, HoldSeconds = 20, Route = "POST /refunds", Limit = 1 });
        var lost = await RefundAsync(app, "--charge", chargeId, "--amount", "50");
        lost.Exit.ShouldBe(1, lost.Output);
        lost.Output.ShouldStartWith("Stripe did not answer (");
        lost.Output.ShouldContain("Run the same command again: with the same charge, amount and request id it refunds at most once.");
        var again = await RefundAsync(app, "--charge", chargeId, "--amount", "50");
        again.Exit.ShouldBe(0, again.Output);
        (await stripeRefunds.ListAsync(new RefundListOptions { Charge = chargeId })).Data.Select(r => r.Amount).Order().ShouldBe([50L, 100L]);
    }

    [Fact]
    public async Task RefundCli_WithBillingDisabled_RefundsNothing_AndSaysSo()
    {
        using var app = new TestApp(new() { ["Billing:Mode"] = "Disabled" });
        await using var scope = app.Services.CreateAsyncScope();
        var command = scope.ServiceProvider.GetServices<ICliCommand>().Single(c => c.Name == "billing refund");
        var output = new StringWriter();
        (await command.RunAsync(new CliArgs(["--charge", "ch_anything", "--amount", "100"]), output, CancellationToken.None)).ShouldBe(2);
        output.ToString().ShouldBe($"Billing is disabled: nothing to refund.{Environment.NewLine}");
    }

    private static BillingTestApp App(int retries = 0, int timeoutSeconds = 10) => new(new()
    {
        ["Billing:Stripe:MaxNetworkRetries"] = retries.ToString(),
        ["Billing:Stripe:RequestTimeoutSeconds"] = timeoutSeconds.ToString(),
    });

    private static async Task<(Microsoft.AspNetCore.Identity.IdentityUser User, HttpClient Client, string CustomerId)> PayPerUseCustomerAsync(BillingTestApp app)
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id }) is not null, "card saved");
        var customerId = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = user.Id });
        return (user, client, customerId);
    }

    private static async Task<List<PaymentIntent>> IntentsAsync(BillingTestApp app, string customerId) =>
        (await new PaymentIntentService(app.StripeClient).ListAsync(new PaymentIntentListOptions { Customer = customerId, Limit = 100 })).Data;

    private static PayPerUse PayPerUse(BillingTestApp app) => app.Services.CreateScope().ServiceProvider.GetRequiredService<PayPerUse>();

    /// <summary>Makes the sweeper see every open hold of the user as left over (a minute old, and past the search for lost holds).</summary>
    private static Task AgeHoldsAsync(BillingTestApp app, string userId)
    {
        var old = DateTime.UtcNow.AddMinutes(-30);
        return app.ExecuteAsync("""
            UPDATE usage_charges SET updated_at = @old, created_at = @old WHERE user_id = @userId;
            UPDATE usage SET updated_at = @old WHERE user_id = @userId AND state <> 'reserved';
            """, new { old, userId });
    }

    [Fact]
    public async Task Authorisation_Answered500_Is503PaymentUnavailable_NotADecline_AndTheRetryWithTheSameKeyIsCharged()
    {
        using var app = App(retries: 0);
        var (user, client, customerId) = await PayPerUseCustomerAsync(app);
        app.Emulator.SetApiFaults(new ApiFaults { ServerErrorPercent = 100, Route = "POST /payment_intents", Limit = 1 });

        var response = await app.GenerateAsync(client, idempotencyKey: "retry-after-503");
        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await BillingTestApp.ProblemCodeAsync(response)).ShouldBe("payment_unavailable");
        response.Headers.RetryAfter.ShouldNotBeNull();
        (await app.QueryAsync<string>("SELECT error_code FROM usage WHERE user_id = @id", new { id = user.Id })).ShouldBe("payment_unavailable");
        (await IntentsAsync(app, customerId)).ShouldBeEmpty();

        // The client does as told: the same request, with the same Idempotency-Key, once Stripe answers again.
        var retried = await app.GenerateAsync(client, idempotencyKey: "retry-after-503");
        retried.StatusCode.ShouldBe(HttpStatusCode.Created);
        var again = await app.GenerateAsync(client, idempotencyKey: "retry-after-503");
        again.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await again.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetString()
            .ShouldBe((await retried.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetString());
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM usage_charges WHERE user_id = @id AND state = 'captured'", new { id = user.Id }) == 1, "second try captured");
        (await IntentsAsync(app, customerId)).Single().AmountReceived.ShouldBe(await app.QueryAsync<long>("SELECT amount_minor FROM usage_charges WHERE state = 'captured' AND user_id = @id", new { id = user.Id }));

        // The unanswered one, once past the search for a lost hold, is closed without a hold at Stripe.
        await AgeHoldsAsync(app, user.Id);
        await PayPerUse(app).SweepAsync(CancellationToken.None);
        (await app.ListAsync<string>("SELECT state FROM usage_charges WHERE user_id = @id ORDER BY state", new { id = user.Id })).ShouldBe(["canceled", "captured"]);
    }

    [Fact]
    public async Task Authorisation_WhoseAnswerWasLost_IsFoundByItsUsage_AndCancelled_AndNothingIsCaptured()
    {
        using var app = App(retries: 0, timeoutSeconds: 1);
        var (user, client, customerId) = await PayPerUseCustomerAsync(app);
        app.Emulator.SetApiFaults(new ApiFaults { TimeoutPercent = 100, HoldSeconds = 20, Route = "POST /payment_intents", Limit = 1 });

        var response = await app.GenerateAsync(client);
        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await BillingTestApp.ProblemCodeAsync(response)).ShouldBe("payment_unavailable");
        var held = (await IntentsAsync(app, customerId)).Single();
        held.Metadata["usage_id"].ShouldBe(await app.QueryAsync<string>("SELECT id FROM usage WHERE user_id = @id", new { id = user.Id }));

        await BillingTestApp.EventuallyAsync(async () =>
            (await new PaymentIntentService(app.StripeClient).GetAsync(held.Id)).Status == "canceled", "lost hold cancelled");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string>("SELECT state FROM usage_charges WHERE user_id = @id", new { id = user.Id }) == "canceled", "charge canceled");
        (await app.QueryAsync<string>("SELECT payment_intent_id FROM usage_charges WHERE user_id = @id", new { id = user.Id })).ShouldBe(held.Id);
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'capture'", new { id = user.Id })).ShouldBe(0);
        (await app.QueryAsync<string>("SELECT state FROM usage WHERE user_id = @id", new { id = user.Id })).ShouldBe("released");
    }

    [Fact]
    public async Task Authorisation_WhoseAnswerIsHeld_WithRetries_IsTheSameHold_AndTheGenerationIsChargedOnce()
    {
        using var app = App(retries: 2, timeoutSeconds: 1);
        var (user, client, customerId) = await PayPerUseCustomerAsync(app);
        app.Emulator.SetApiFaults(new ApiFaults { TimeoutPercent = 100, HoldSeconds = 20, Route = "POST /payment_intents", Limit = 1 });

        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string>("SELECT state FROM usage_charges WHERE user_id = @id", new { id = user.Id }) == "captured", "captured");
        var intent = (await IntentsAsync(app, customerId)).Single();
        intent.Status.ShouldBe("succeeded");
        (await app.QueryAsync<long>("SELECT sum(amount_minor) FROM payments WHERE user_id = @id AND kind = 'capture'", new { id = user.Id })).ShouldBe(intent.AmountReceived);
    }

    [Fact]
    public async Task Capture_Answered500_IsListedForAdmins_ThenTheSweepCapturesIt_WithANewAttempt()
    {
        using var app = App(retries: 0);
        var (user, client, customerId) = await PayPerUseCustomerAsync(app);
        app.Emulator.SetApiFaults(new ApiFaults { ServerErrorPercent = 100, Route = "POST /payment_intents/pi_", Limit = 1 });

        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT capture_attempts FROM usage_charges WHERE user_id = @id AND last_error_at IS NOT NULL", new { id = user.Id }) == 1, "first capture failed");
        var usageId = await app.QueryAsync<string>("SELECT usage_id FROM usage_charges WHERE user_id = @id", new { id = user.Id });
        (await app.QueryAsync<string>("SELECT state FROM usage_charges WHERE usage_id = @usageId", new { usageId })).ShouldBe("authorised");

        var (_, admin) = await app.SignedInUserAsync(admin: true);
        var page = await admin.GetStringAsync("/admin/billing/captures");
        page.ShouldContain($"data-usage-id=\"{usageId}\"");
        page.ShouldContain("Stripe did not answer");
        (await client.GetAsync("/admin/billing/captures")).StatusCode.ShouldNotBe(HttpStatusCode.OK);

        await AgeHoldsAsync(app, user.Id);
        await PayPerUse(app).SweepAsync(CancellationToken.None);
        (await app.QueryAsync<string>("SELECT state FROM usage_charges WHERE usage_id = @usageId", new { usageId })).ShouldBe("captured");
        (await app.QueryAsync<long>("SELECT capture_attempts FROM usage_charges WHERE usage_id = @usageId", new { usageId })).ShouldBe(2);
        var intent = (await IntentsAsync(app, customerId)).Single();
        intent.Status.ShouldBe("succeeded");
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE usage_id = @usageId AND kind = 'capture'", new { usageId })).ShouldBe(1);
        (await admin.GetStringAsync("/admin/billing/captures")).ShouldNotContain($"data-usage-id=\"{usageId}\"");
    }

    [Theory]
    [InlineData(0, 30, 0, 20)]
    [InlineData(10, 10, 10, 200)]
    public async Task BurstOfGenerations_With30PercentOfStripeCallsFaulted_EachIsAuthorisedOnce_CapturedOnce_AndTheLedgerIsExact(int rateLimit, int serverError, int timeout, int generations)
    {
        // Held answers come after a 1 s client timeout; Stripe.net retries each call up to 3 times with the same key.
        using var app = App(retries: 3, timeoutSeconds: timeout > 0 ? 1 : 10);
        var (user, client, customerId) = await PayPerUseCustomerAsync(app);
        app.Emulator.SetApiFaults(new ApiFaults { RateLimitPercent = rateLimit, ServerErrorPercent = serverError, TimeoutPercent = timeout, HoldSeconds = 2 });

        var answers = new List<HttpStatusCode>();
        for (var round = 0; round < generations / 4; round++)
            answers.AddRange((await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => app.GenerateAsync(client)))).Select(r => r.StatusCode));
        app.Emulator.ApiFaultsInjected.ShouldBeGreaterThan(0);
        answers.ShouldAllBe(s => s == HttpStatusCode.Created || s == HttpStatusCode.ServiceUnavailable);

        // Stripe recovers; the jobs and the sweep finish what the faults left.
        app.Emulator.SetApiFaults(new ApiFaults());
        await BillingTestApp.EventuallyAsync(async () =>
        {
            await AgeHoldsAsync(app, user.Id);
            await PayPerUse(app).SweepAsync(CancellationToken.None);
            return await app.QueryAsync<long>("SELECT count(*) FROM usage_charges WHERE user_id = @id AND state IN ('pending', 'authorised')", new { id = user.Id }) == 0;
        }, "every hold settled", seconds: 60);

        var usages = await app.ListAsync<(string Id, string State, long Amount, string ChargeState)>("""
            SELECT u.id, u.state, c.amount_minor, c.state FROM usage AS u JOIN usage_charges AS c ON c.usage_id = u.id WHERE u.user_id = @id
            """, new { id = user.Id });
        usages.Count.ShouldBe(generations);
        usages.Count(u => u.State == "succeeded").ShouldBe(answers.Count(a => a == HttpStatusCode.Created));
        var intents = await new PaymentIntentService(app.StripeClient).ListAutoPagingAsync(new PaymentIntentListOptions { Customer = customerId, Limit = 100 }).ToListAsync();
        // The emulator's own charges: every captured cent is one the app recorded, nothing charged twice.
        var charges = await new ChargeService(app.StripeClient).ListAutoPagingAsync(new ChargeListOptions { Customer = customerId, Limit = 100 }).ToListAsync();
        foreach (var usage in usages)
        {
            var mine = intents.Where(i => i.Metadata.GetValueOrDefault("usage_id") == usage.Id).ToList();
            if (usage.State == "succeeded")
            {
                usage.ChargeState.ShouldBe("captured");
                mine.Count.ShouldBe(1, $"usage {usage.Id} authorised once");
                mine[0].AmountReceived.ShouldBe(usage.Amount);
            }
            else
            {
                usage.ChargeState.ShouldBe("canceled");
                mine.Count.ShouldBeLessThanOrEqualTo(1);
                mine.ShouldAllBe(i => i.Status == "canceled");
            }
        }
        var captured = usages.Where(u => u.State == "succeeded").Sum(u => u.Amount);
        intents.Sum(i => i.AmountReceived).ShouldBe(captured);
        charges.Where(c => c.Captured).Sum(c => c.AmountCaptured).ShouldBe(captured);
        charges.Where(c => c.Captured).Select(c => c.PaymentIntentId).ShouldBeUnique();
        charges.Count(c => c.Captured).ShouldBe(usages.Count(u => u.State == "succeeded"));
        (await app.QueryAsync<long>("SELECT coalesce(sum(amount_minor), 0) FROM payments WHERE user_id = @id AND kind = 'capture'", new { id = user.Id })).ShouldBe(captured);
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'capture'", new { id = user.Id })).ShouldBe(usages.Count(u => u.State == "succeeded"));
    }
}
