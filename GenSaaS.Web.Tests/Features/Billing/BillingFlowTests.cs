using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GenSaaS.Web.Features.Billing;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Operations;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>Each way to pay, from the /billing page through the hosted Checkout page and the webhooks to a generation.</summary>
[Collection(BillingCollection.Name)]
public sealed class BillingFlowTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    [Fact]
    public async Task BillingPage_ShowsEveryPlanWithPriceAndChooseButton()
    {
        var (_, client) = await app.SignedInUserAsync();
        var page = await client.GetStringAsync("/billing");
        foreach (var key in new[] { "pay_per_use", "bundle_10", "bundle_25", "subscription_unlimited" })
            page.ShouldContain($"data-testid=\"choose-{key}\"");
        page.ShouldContain("4.00 USD for 10 credits");
        page.ShouldContain("19.00 USD a month");
        page.ShouldContain("0.50 USD per generation");
    }

    [Fact]
    public async Task Checkout_AnswersJsonAndHtmxCallers_AndRefusesUnknownPlansAndStrangers()
    {
        var (_, client) = await app.SignedInUserAsync();
        var json = await client.PostAsJsonAsync("/api/billing/checkout", new { plan = "subscription_unlimited" });
        json.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await json.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("url").GetString()!.ShouldContain("/emulator/checkout/cs_");

        var page = await client.GetStringAsync("/billing");
        using var htmx = new HttpRequestMessage(HttpMethod.Post, "/api/billing/checkout")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["plan"] = "bundle_10", ["__RequestVerificationToken"] = BillingTestApp.AntiforgeryToken(page) }),
        };
        htmx.Headers.Add("HX-Request", "true");
        var answer = await client.SendAsync(htmx);
        answer.StatusCode.ShouldBe(HttpStatusCode.OK);
        answer.Headers.GetValues("HX-Redirect").Single().ShouldContain("/emulator/checkout/cs_");

        var forged = await client.PostAsync("/api/billing/checkout", new FormUrlEncodedContent(new Dictionary<string, string> { ["plan"] = "bundle_10" }));
        forged.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var unknown = await client.PostAsJsonAsync("/api/billing/checkout", new { plan = "bundle_1000" });
        unknown.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await BillingTestApp.ProblemCodeAsync(unknown)).ShouldBe("validation_failed");
        var anonymous = await app.NewClient().PostAsJsonAsync("/api/billing/checkout", new { plan = "bundle_10" });
        anonymous.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Bundle_PaidAtCheckout_GrantsCreditsOnce_AndGenerationSpendsThem()
    {
        var (user, client) = await app.SignedInUserAsync();
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);

        var url = await BillingTestApp.ChooseAsync(client, "bundle_10");
        url.ShouldContain("/emulator/checkout/");
        var outcome = await app.PayAsync(url, TestCard.Visa);
        outcome.Completed.ShouldBeTrue(outcome.Error);

        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "10 prepaid credits");
        var success = await client.GetStringAsync(new Uri(outcome.RedirectUrl!).PathAndQuery);
        success.ShouldContain("being confirmed");
        success.ShouldContain("data-testid=\"purchase-confirmed\"");
        success.ShouldContain("data-testid=\"credits-remaining\">10<");

        var customer = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = user.Id });
        var stripeCustomer = await new CustomerService(app.StripeClient).GetAsync(customer);
        stripeCustomer.Email.ShouldBe(user.Email);
        stripeCustomer.Metadata["user_id"].ShouldBe(user.Id);

        var created = await app.GenerateAsync(client);
        created.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await app.PrepaidAsync(user.Id)).ShouldBe(9);

        var payment = await app.QueryAsync<(string StripeId, long Amount, string Currency, long? Entry)>(
            "SELECT stripe_id, amount_minor, currency, ledger_entry_id FROM payments WHERE user_id = @id AND kind = 'bundle'", new { id = user.Id });
        payment.Amount.ShouldBe(400);
        payment.Currency.ShouldBe("usd");
        payment.Entry.ShouldNotBeNull();
        (await app.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE reference = @r AND kind = 'grant'", new { r = payment.StripeId })).ShouldBe(1);
    }

    [Fact]
    public async Task DeclinedCard_AtCheckout_GrantsNothing()
    {
        var (user, client) = await app.SignedInUserAsync();
        var url = await BillingTestApp.ChooseAsync(client, "bundle_25");
        var outcome = await app.PayAsync(url, TestCard.VisaDeclined);
        outcome.Completed.ShouldBeFalse();
        outcome.Error!.ShouldContain("declined");
        await Task.Delay(1000);
        (await app.PrepaidAsync(user.Id)).ShouldBe(0);
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
    }

    [Fact]
    public async Task Subscription_ActivatesWithPeriodEnd_RenewsWhenTheClockAdvances()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        var firstEnd = await app.QueryAsync<DateTime>("SELECT current_period_end FROM subscriptions WHERE user_id = @id", new { id = user.Id });
        firstEnd.ShouldBeGreaterThan(DateTime.UtcNow.AddDays(25));
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        var billing = await client.GetStringAsync("/billing");
        billing.ShouldContain("data-testid=\"next-billing-date\"");
        billing.ShouldContain("data-testid=\"manage-billing\"");
        var portal = await client.PostAsync("/api/billing/portal", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = BillingTestApp.AntiforgeryToken(billing),
        }));
        portal.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        portal.Headers.Location!.ToString().ShouldContain("/emulator/portal/");

        await app.AdvanceClockAsync(32);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<DateTime>("SELECT current_period_end FROM subscriptions WHERE user_id = @id", new { id = user.Id }) > firstEnd.AddDays(25), "renewed period");
        (await app.SubscriptionStatusAsync(user.Id)).ShouldBe("active");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'subscription_invoice' AND status = 'paid'", new { id = user.Id }) == 2,
            "two paid invoices");
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task PayPerUse_SavedCardIsAuthorisedThenCaptured_AfterTheGeneration()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id }) is not null, "card saved");
        var card = await app.QueryAsync<(string Pm, string Brand, string Last4, string Customer)>(
            "SELECT default_payment_method, card_brand, card_last4, stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = user.Id });
        card.Brand.ShouldBe("visa");
        card.Last4.ShouldBe("4242");
        (await new CustomerService(app.StripeClient).GetAsync(card.Customer)).InvoiceSettings.DefaultPaymentMethodId.ShouldBe(card.Pm);

        var response = await app.GenerateAsync(client);
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());

        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT state FROM usage_charges WHERE user_id = @id", new { id = user.Id }) == "captured", "capture");
        var usage = await app.QueryAsync<(string Id, string Reference, long Amount)>(
            "SELECT usage_id, payment_intent_id, amount_minor FROM usage_charges WHERE user_id = @id", new { id = user.Id });
        usage.Amount.ShouldBe(50);
        var intent = await new PaymentIntentService(app.StripeClient).GetAsync(usage.Reference);
        intent.Status.ShouldBe("succeeded");
        intent.AmountReceived.ShouldBe(50);
        intent.Metadata["usage_id"].ShouldBe(usage.Id);
        var rows = await app.ListAsync<(string Kind, long Amount, string UsageId)>(
            "SELECT kind, amount_minor, usage_id FROM payments WHERE user_id = @id ORDER BY id", new { id = user.Id });
        rows.Select(r => r.Kind).ShouldBe(["authorisation", "capture"], ignoreOrder: true);
        rows.ShouldAllBe(r => r.Amount == 50 && r.UsageId == usage.Id);

        // Stripe's own word on the capture arrives too, and is applied without disturbing what the capture job wrote.
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<string?>(
            "SELECT status FROM stripe_events WHERE type = 'payment_intent.succeeded' AND object_id = @pi", new { pi = usage.Reference }) == "applied", "payment_intent.succeeded applied");
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM usage_charges WHERE user_id = @id AND state = 'captured'", new { id = user.Id }) == 2, "second capture");
    }

    [Fact]
    public async Task PayPerUse_CardSavedFineThatFailsEveryCharge_Is402PaymentFailed_ReservationReleased_NothingCharged()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use", TestCard.VisaDeclinedAfterAttach);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT card_last4 FROM billing_customers WHERE user_id = @id", new { id = user.Id }) == "0341", "card saved");

        var response = await app.GenerateAsync(client);
        response.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("code").GetString().ShouldBe("payment_failed");
        problem.GetProperty("title").GetString()!.ShouldContain("Your card was declined.");

        var usage = await app.QueryAsync<(string State, string ChargeState)>("SELECT u.state, c.state FROM usage AS u JOIN usage_charges AS c ON c.usage_id = u.id WHERE u.user_id = @id", new { id = user.Id });
        usage.State.ShouldBe("released");
        usage.ChargeState.ShouldBe("failed");
        (await app.QueryAsync<long>("SELECT count(*) FROM generations WHERE user_id = @id", new { id = user.Id })).ShouldBe(0);
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'capture'", new { id = user.Id })).ShouldBe(0);
        var customer = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = user.Id });
        var intents = await new PaymentIntentService(app.StripeClient).ListAsync(new PaymentIntentListOptions { Customer = customer });
        intents.Data.ShouldNotContain(i => i.Status == "succeeded" || i.Status == "requires_capture");
    }

    [Fact]
    public async Task RenewalFailure_MakesSubscriptionPastDue_AndGenerationStopsWithSubscriptionInactive()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        await app.ChangeCardInPortalAsync(client, TestCard.VisaDeclinedAfterAttach);
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);

        await app.AdvanceClockAsync(32);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "past_due", "subscription past_due");
        var response = await app.GenerateAsync(client);
        response.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        (await BillingTestApp.ProblemCodeAsync(response)).ShouldBe("subscription_inactive");
    }

    [Fact]
    public async Task CancelAtPeriodEnd_KeepsThePlanUntilTheEnd_ThenEndsIt()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        var id = await app.QueryAsync<string>("SELECT stripe_subscription_id FROM subscriptions WHERE user_id = @id", new { id = user.Id });

        await new SubscriptionService(app.StripeClient).UpdateAsync(id, new SubscriptionUpdateOptions { CancelAtPeriodEnd = true });
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT cancel_at_period_end FROM subscriptions WHERE stripe_subscription_id = @id", new { id }) == 1, "cancel_at_period_end");
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);

        await app.AdvanceClockAsync(32);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "canceled", "subscription canceled");
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
    }

    [Fact]
    public async Task Refund_ThroughTheCli_TakesBackTheRefundedShareOfUnusedCredits()
    {
        var (user, client) = await app.SignedInUserAsync();
        var sessionId = await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "10 credits");
        var session = await new Stripe.Checkout.SessionService(app.StripeClient).GetAsync(sessionId);
        var chargeId = (await new PaymentIntentService(app.StripeClient).GetAsync(session.PaymentIntentId)).LatestChargeId;

        (await RefundAsync(chargeId, 200)).ShouldBe(0);
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 5, "half the credits taken back");

        for (var i = 0; i < 4; i++)
            (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await app.PrepaidAsync(user.Id)).ShouldBe(1);

        (await RefundAsync(chargeId, null)).ShouldBe(0);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE kind = 'refund' AND charge_id = @chargeId", new { chargeId }) == 2, "both refunds recorded");
        (await app.PrepaidAsync(user.Id)).ShouldBe(0);
        var refunds = await app.ListAsync<(long Amount, string Currency)>("SELECT amount_minor, currency FROM payments WHERE kind = 'refund' AND charge_id = @chargeId", new { chargeId });
        refunds.Sum(r => r.Amount).ShouldBe(400);
    }

    private async Task<int> RefundAsync(string chargeId, long? amount)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var command = scope.ServiceProvider.GetServices<ICliCommand>().Single(c => c.Name == "billing refund");
        var args = amount is { } a ? new[] { "--charge", chargeId, "--amount", a.ToString() } : new[] { "--charge", chargeId };
        return await command.RunAsync(new CliArgs(args), TextWriter.Null, CancellationToken.None);
    }

    [Fact]
    public async Task StripeSync_CreatesMissingPricesByLookupKey_AndASecondRunChangesNothing()
    {
        await using var fresh = new BillingTestApp();
        _ = fresh.BaseAddress;
        var prices = fresh.Services.GetRequiredService<StripePrices>();
        var first = new StringWriter();
        (await prices.SyncAsync(first, CancellationToken.None)).ShouldBe(8, first.ToString());
        var second = new StringWriter();
        (await prices.SyncAsync(second, CancellationToken.None)).ShouldBe(0, second.ToString());
        second.ToString().ShouldContain("nothing changed");

        var listed = await new PriceService(fresh.StripeClient).ListAsync(new PriceListOptions { LookupKeys = ["pay_per_use", "bundle_10", "bundle_25", "subscription_unlimited"], Limit = 100 });
        listed.Data.Select(p => p.LookupKey).ShouldBe(["pay_per_use", "bundle_10", "bundle_25", "subscription_unlimited"], ignoreOrder: true);
        listed.Data.Single(p => p.LookupKey == "subscription_unlimited").Recurring.Interval.ShouldBe("month");
        (await new ProductService(fresh.StripeClient).ListAsync(new ProductListOptions { Limit = 100 })).Data.Count.ShouldBe(4);
    }
}
