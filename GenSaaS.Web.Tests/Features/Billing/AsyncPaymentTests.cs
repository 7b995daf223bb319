using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using GenSaaS.Web.Tests.Infrastructure;
using MimeKit;
using Stripe;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// Delayed payment methods (bank debits): Checkout completes with <c>payment_status=unpaid</c>; credits come only with
/// <c>checkout.session.async_payment_succeeded</c>; <c>async_payment_failed</c> grants nothing and tells the customer once.
/// Events are Stripe's shapes with real signatures, delivered twice and out of order.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class AsyncPaymentTests : IDisposable
{
    private readonly SmtpCatcher _mail = new();
    private readonly BillingTestApp _app;

    public AsyncPaymentTests()
    {
        _app = new BillingTestApp(_mail.Settings(new()
        {
            ["Billing:PaymentMethodTypes:0"] = "card",
            ["Billing:PaymentMethodTypes:1"] = "us_bank_account",
        }));
    }

    public void Dispose()
    {
        _app.Dispose();
        _mail.Dispose();
    }

    private static string Event(string type, JsonObject session, string? id = null) => BillingTestApp.EventJson(type, session, id: id);

    private static JsonObject BundleSession(string sessionId, string userId, string paymentStatus) => new()
    {
        ["id"] = sessionId,
        ["object"] = "checkout.session",
        ["mode"] = "payment",
        ["status"] = "complete",
        ["payment_status"] = paymentStatus,
        ["payment_intent"] = "pi_async_" + sessionId[^12..],
        ["amount_total"] = 400,
        ["currency"] = "usd",
        ["payment_method_types"] = new JsonArray("card", "us_bank_account"),
        ["metadata"] = new JsonObject { ["plan_key"] = "bundle_10", ["user_id"] = userId },
    };

    private async Task DeliverAsync(string payload)
    {
        using var client = _app.NewClient();
        var header = EventUtility.GenerateSignatureHeader(payload, _app.Emulator.WebhookSecret, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
        var response = await client.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    private Task<string?> BundleStatusAsync(string sessionId) =>
        _app.QueryAsync<string?>("SELECT status FROM payments WHERE kind = 'bundle' AND stripe_id = @sessionId", new { sessionId });

    private List<MimeMessage> MailTo(string email) => _mail.To(email).ToList();

    [Fact]
    public async Task Checkout_OffersTheConfiguredPaymentMethodTypes_ForBundlesAndTheMonthlyPlan()
    {
        var (_, client) = await _app.SignedInUserAsync();
        foreach (var plan in new[] { "bundle_10", "subscription_unlimited" })
        {
            var url = await BillingTestApp.ChooseAsync(client, plan);
            var session = await new Stripe.Checkout.SessionService(_app.StripeClient).GetAsync(new Uri(url).Segments[^1]);
            session.PaymentMethodTypes.ShouldBe(["card", "us_bank_account"]);
        }
    }

    [Fact]
    public async Task CompletedUnpaid_GrantsNothing_ThenAsyncSucceeded_GrantsOnce_WhateverTheOrder()
    {
        var (user, client) = await _app.SignedInUserAsync();
        var sessionId = new Uri(await BillingTestApp.ChooseAsync(client, "bundle_10")).Segments[^1];

        var completed = Event("checkout.session.completed", BundleSession(sessionId, user.Id, "unpaid"));
        await DeliverAsync(completed);
        (await _app.PrepaidAsync(user.Id)).ShouldBe(0);
        (await BundleStatusAsync(sessionId)).ShouldBe("unpaid");

        var succeeded = Event("checkout.session.async_payment_succeeded", BundleSession(sessionId, user.Id, "paid"));
        await DeliverAsync(succeeded);
        await DeliverAsync(succeeded);
        (await _app.PrepaidAsync(user.Id)).ShouldBe(10);
        (await BundleStatusAsync(sessionId)).ShouldBe("paid");

        // A late copy of the completion (a new event id, still unpaid) takes nothing back and does not unmark the payment.
        await DeliverAsync(Event("checkout.session.completed", BundleSession(sessionId, user.Id, "unpaid")));
        (await _app.PrepaidAsync(user.Id)).ShouldBe(10);
        (await BundleStatusAsync(sessionId)).ShouldBe("paid");

        var page = await client.GetStringAsync($"/billing/success?session_id={sessionId}");
        page.ShouldContain("data-testid=\"purchase-confirmed\"");
    }

    [Fact]
    public async Task AsyncFailed_BeforeTheCompletion_GrantsNothing_EmailsOnce_AndTheSuccessPageSaysItFailed()
    {
        var email = NewEmail();
        var user = await _app.CreateUserAsync(email);
        var client = await _app.SignInAsync(email);
        var sessionId = new Uri(await BillingTestApp.ChooseAsync(client, "bundle_10")).Segments[^1];

        var failed = Event("checkout.session.async_payment_failed", BundleSession(sessionId, user.Id, "unpaid"));
        await DeliverAsync(failed);
        await DeliverAsync(failed);
        await DeliverAsync(Event("checkout.session.async_payment_failed", BundleSession(sessionId, user.Id, "unpaid")));
        await DeliverAsync(Event("checkout.session.completed", BundleSession(sessionId, user.Id, "unpaid")));

        (await _app.PrepaidAsync(user.Id)).ShouldBe(0);
        (await BundleStatusAsync(sessionId)).ShouldBe("failed");
        var mail = (await EventuallyAsync(() => MailTo(email))).ShouldHaveSingleItem();
        (mail.Subject ?? "").ShouldContain("did not go through");
        FirstLink(mail.HtmlBody ?? "").ShouldEndWith("/billing");

        var page = await client.GetStringAsync($"/billing/success?session_id={sessionId}");
        page.ShouldContain("data-testid=\"purchase-failed\"");
        page.ShouldNotContain("hx-trigger=\"load");
        (await _app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);

        await Task.Delay(TimeSpan.FromSeconds(2));
        MailTo(email).Count.ShouldBe(1);
    }

    /// <summary>Pays on the emulator's hosted page with a test US bank account; returns the success page's path.</summary>
    private async Task<string> PayByBankAsync(string checkoutUrl, string accountNumber)
    {
        using var browser = _app.NewClient();
        var path = new Uri(checkoutUrl).PathAndQuery;
        var page = await browser.GetStringAsync(path);
        page.ShouldContain("Pay by bank");
        var response = await browser.PostAsync(path + "?handler=Bank", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Input.AccountNumber"] = accountNumber,
            ["Input.Email"] = "",
            ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(page),
        }));
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        return new Uri(response.Headers.Location!.ToString()).PathAndQuery;
    }

    [Fact]
    public async Task PayByBank_SuccessPageSaysPending_AndCreditsArriveOnlyWhenTheBankConfirms()
    {
        var (user, client) = await _app.SignedInUserAsync();
        var checkoutUrl = await BillingTestApp.ChooseAsync(client, "bundle_10");
        var success = await PayByBankAsync(checkoutUrl, "000123456789");

        var page = await client.GetStringAsync(success);
        page.ShouldContain("data-testid=\"payment-pending\"");
        page.ShouldNotContain("data-testid=\"purchase-confirmed\"");
        var sessionId = new Uri(checkoutUrl).Segments[^1];
        await BillingTestApp.EventuallyAsync(async () => await BundleStatusAsync(sessionId) == "unpaid", "the unpaid completion recorded");
        (await _app.PrepaidAsync(user.Id)).ShouldBe(0);
        (await _app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);

        await _app.AdvanceClockAsync(0.01);
        await BillingTestApp.EventuallyAsync(async () => await _app.PrepaidAsync(user.Id) == 10, "10 credits once the debit settles");
        (await client.GetStringAsync(success)).ShouldContain("data-testid=\"purchase-confirmed\"");
        var events = (await new EventService(_app.StripeClient).ListAsync(new EventListOptions { Type = "checkout.session.*", Limit = 100 })).Data
            .Where(e => ((Stripe.Checkout.Session)e.Data.Object).Id == sessionId).Select(e => e.Type).OrderBy(t => t).ToList();
        events.ShouldBe(["checkout.session.async_payment_succeeded", "checkout.session.completed"]);
    }

    [Fact]
    public async Task PayByBank_TheBankRefuses_NothingGranted_OneEmail_AndTheSuccessPageSaysSo()
    {
        var email = NewEmail();
        var user = await _app.CreateUserAsync(email);
        var client = await _app.SignInAsync(email);
        var checkoutUrl = await BillingTestApp.ChooseAsync(client, "bundle_10");
        var success = await PayByBankAsync(checkoutUrl, "000222222227");
        (await client.GetStringAsync(success)).ShouldContain("data-testid=\"payment-pending\"");

        await _app.AdvanceClockAsync(0.01);
        var sessionId = new Uri(checkoutUrl).Segments[^1];
        await BillingTestApp.EventuallyAsync(async () => await BundleStatusAsync(sessionId) == "failed", "the bundle payment failed");
        (await client.GetStringAsync(success)).ShouldContain("data-testid=\"purchase-failed\"");
        (await _app.PrepaidAsync(user.Id)).ShouldBe(0);
        (await EventuallyAsync(() => MailTo(email))).ShouldHaveSingleItem();
        var session = await new Stripe.Checkout.SessionService(_app.StripeClient).GetAsync(sessionId);
        session.PaymentStatus.ShouldBe("unpaid");
        (await new PaymentIntentService(_app.StripeClient).GetAsync(session.PaymentIntentId)).Status.ShouldBe("requires_payment_method");
    }

    [Fact]
    public async Task SubscribeByBank_ThePlanIsPendingUntilTheBankConfirms_ThenLive()
    {
        var (user, client) = await _app.SignedInUserAsync();
        var checkoutUrl = await BillingTestApp.ChooseAsync(client, "subscription_unlimited");
        var success = await PayByBankAsync(checkoutUrl, "000123456789");

        (await client.GetStringAsync(success)).ShouldContain("data-testid=\"payment-pending\"");
        await BillingTestApp.EventuallyAsync(async () => await _app.SubscriptionStatusAsync(user.Id) == "incomplete", "subscription incomplete");
        var refused = await _app.GenerateAsync(client);
        refused.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        (await client.GetStringAsync("/billing")).ShouldContain("payment pending");

        await _app.AdvanceClockAsync(0.01);
        await BillingTestApp.EventuallyAsync(async () => await _app.SubscriptionStatusAsync(user.Id) == "active", "subscription active once the debit settles");
        (await _app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await client.GetStringAsync(success)).ShouldContain("data-testid=\"purchase-confirmed\"");
        var sessionId = new Uri(checkoutUrl).Segments[^1];
        (await new Stripe.Checkout.SessionService(_app.StripeClient).GetAsync(sessionId)).PaymentStatus.ShouldBe("paid");
    }

    [Fact]
    public void APaymentMethodTypeStripeCheckoutDoesNotTake_StopsTheAppAtStart()
    {
        using var app = new BillingTestApp(new() { ["Billing:PaymentMethodTypes:0"] = "card", ["Billing:PaymentMethodTypes:1"] = "bitcoin" });
        var error = Should.Throw<Exception>(() => app.BaseAddress);
        error.ToString().ShouldContain("Billing:PaymentMethodTypes has 'bitcoin'");
    }
}
