using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Tests.Infrastructure;
using MimeKit;
using Stripe;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// When Stripe still makes a second subscription (two subscription Checkout Sessions paid in parallel), the webhooks keep
/// the older one, cancel the newer at once, refund its charge in full, record the refund and email the customer once —
/// and replaying every webhook, in any order, changes nothing.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class DuplicateSubscriptionTests : IDisposable
{
    private readonly SmtpCatcher _mail = new();
    private readonly BillingTestApp _app;

    public DuplicateSubscriptionTests()
    {
        _app = new BillingTestApp(_mail.Settings(new()
        {
            ["Billing:Emulator:Faults"] = "Duplicate, Shuffle",
        }));
    }

    public void Dispose()
    {
        _app.Dispose();
        _mail.Dispose();
    }

    private List<MimeMessage> MailTo(string email) => _mail.To(email).ToList();

    [Fact]
    public async Task TwoSubscriptionCheckoutsPaidInParallel_EndWithOneSubscription_TheNewerCanceledAndRefundedInFull_OneEmail_ReplaysChangeNothing()
    {
        var app = _app;
        var email = NewEmail();
        var user = await app.CreateUserAsync(email);
        var client = await app.SignInAsync(email);
        var ledgerBefore = await app.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE user_id = @id", new { id = user.Id });

        // Tab one through the app; tab two is a session the app could not expire in time (made at Stripe directly, as the app would).
        var first = await client.PostAsJsonAsync("/api/billing/checkout", new { plan = "subscription_unlimited" });
        first.StatusCode.ShouldBe(HttpStatusCode.OK, await first.Content.ReadAsStringAsync());
        var firstUrl = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("url").GetString()!;
        var customer = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = user.Id });
        var price = (await new PriceService(app.StripeClient).ListAsync(new PriceListOptions { LookupKeys = ["subscription_unlimited"] })).Data.Single();
        var second = await new Stripe.Checkout.SessionService(app.StripeClient).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Customer = customer,
            ClientReferenceId = user.Id,
            Mode = "subscription",
            LineItems = [new Stripe.Checkout.SessionLineItemOptions { Price = price.Id, Quantity = 1 }],
            Metadata = new() { ["user_id"] = user.Id, ["plan_key"] = "subscription_unlimited" },
            SubscriptionData = new Stripe.Checkout.SessionSubscriptionDataOptions { Metadata = new() { ["user_id"] = user.Id, ["plan_key"] = "subscription_unlimited" } },
            SuccessUrl = "https://example.com/ok",
            CancelUrl = "https://example.com/cancel",
        });

        var paid = await Task.WhenAll(app.PayAsync(firstUrl, TestCard.Visa), app.PayAsync(second.Url, TestCard.Visa));
        paid.ShouldAllBe(o => o.Completed);

        var subscriptions = new SubscriptionService(app.StripeClient);
        await BillingTestApp.EventuallyAsync(async () =>
            (await subscriptions.ListAsync(new SubscriptionListOptions { Customer = customer, Status = "all" })).Data.Count(s => s.Status == "canceled") == 1,
            "the duplicate canceled at Stripe");
        var all = (await subscriptions.ListAsync(new SubscriptionListOptions { Customer = customer, Status = "all" })).Data
            .OrderBy(s => s.Created).ThenBy(s => s.Id, StringComparer.Ordinal).ToList();
        all.Count.ShouldBe(2);
        all[0].Status.ShouldBe("active", "the older subscription is kept");
        all[1].Status.ShouldBe("canceled", "the newer one is canceled");

        // Its charge refunded in full at Stripe, once; the kept one's charge untouched.
        var chargeOf = new Dictionary<string, Charge>();
        foreach (var s in all)
        {
            var payment = (await new InvoicePaymentService(app.StripeClient).ListAsync(new InvoicePaymentListOptions { Invoice = s.LatestInvoiceId })).Data.Single();
            var intent = await new PaymentIntentService(app.StripeClient).GetAsync(payment.Payment.PaymentIntentId);
            chargeOf[s.Id] = await new ChargeService(app.StripeClient).GetAsync(intent.LatestChargeId);
        }
        await BillingTestApp.EventuallyAsync(async () =>
            (await new ChargeService(app.StripeClient).GetAsync(chargeOf[all[1].Id].Id)).Refunded, "the duplicate's charge refunded");
        var refunded = await new ChargeService(app.StripeClient).GetAsync(chargeOf[all[1].Id].Id);
        refunded.AmountRefunded.ShouldBe(refunded.Amount);
        var refund = (await new RefundService(app.StripeClient).ListAsync(new RefundListOptions { Charge = refunded.Id })).Data.ShouldHaveSingleItem();
        refund.Amount.ShouldBe(refunded.Amount);
        (await new ChargeService(app.StripeClient).GetAsync(chargeOf[all[0].Id].Id)).AmountRefunded.ShouldBe(0);

        await BillingTestApp.EventuallyAsync(() => Task.FromResult(MailTo(email).Count(m => (m.Subject ?? "").Contains("subscribed twice")) == 1), "one email about the duplicate");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'refund'", new { id = user.Id }) == 1
            && await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'subscription_invoice' AND status = 'paid'", new { id = user.Id }) == 2
            && await app.QueryAsync<string>("SELECT status FROM subscriptions WHERE stripe_subscription_id = @id", new { id = all[1].Id }) == "canceled",
            "payments and subscriptions recorded");
        var snapshot = await SnapshotAsync(user.Id);
        snapshot.ShouldContain($"refund|{refunded.Amount}|{refund.Id}|succeeded");

        // Every webhook Stripe sent, delivered again as new events in reverse order: nothing more is canceled, refunded, recorded or sent.
        var events = (await new EventService(app.StripeClient).ListAsync(new EventListOptions { Limit = 100 })).Data;
        foreach (var e in events.OrderByDescending(e => e.Created))
        {
            var copy = JsonNode.Parse(e.RawJsonElement!.Value.GetRawText())!;
            copy["id"] = "evt_replay_" + Guid.NewGuid().ToString("N");
            (await DeliverAsync(copy.ToJsonString())).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        (await SnapshotAsync(user.Id)).ShouldBe(snapshot);
        (await new RefundService(app.StripeClient).ListAsync(new RefundListOptions { Charge = refunded.Id })).Data.Count.ShouldBe(1);
        (await subscriptions.GetAsync(all[0].Id)).Status.ShouldBe("active");
        MailTo(email).Count(m => (m.Subject ?? "").Contains("subscribed twice")).ShouldBe(1);
        (await app.QueryAsync<long>("SELECT count(*) FROM billing_notices WHERE user_id = @id", new { id = user.Id })).ShouldBe(1);
        // The kept subscription is announced as started once; the duplicate, canceled at once, is announced neither started nor ended.
        await BillingTestApp.EventuallyAsync(() => Task.FromResult(MailTo(email).Count(m => (m.Subject ?? "").Contains("subscription has started")) == 1), "one started email");
        (await app.ListAsync<string>("SELECT kind || ':' || reference FROM sent_emails WHERE user_id = @id AND sent_at IS NOT NULL ORDER BY kind", new { id = user.Id }))
            .ShouldBe([$"SubscriptionStarted:{all[0].Id}"]);
        MailTo(email).Count(m => (m.Subject ?? "").Contains("has ended")).ShouldBe(0);

        // The subscriber keeps the plan: the ledger is untouched, generation works, /billing marks the plan once.
        (await app.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE user_id = @id AND reason LIKE 'Refund%'", new { id = user.Id })).ShouldBe(0);
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        ledgerBefore.ShouldBe(0);
        var page = await client.GetStringAsync("/billing");
        page.ShouldContain("data-testid=\"current-plan\"");
        page.ShouldNotContain("data-testid=\"choose-subscription_unlimited\"");
    }

    private async Task<string> SnapshotAsync(string userId) => string.Join("\n",
        await _app.ListAsync<string>("""
            SELECT kind || '|' || amount_minor || '|' || stripe_id || '|' || status FROM payments WHERE user_id = @userId
            UNION ALL SELECT 'sub|' || stripe_subscription_id || '|' || status FROM subscriptions WHERE user_id = @userId
            UNION ALL SELECT 'notice|' || kind || '|' || stripe_id FROM billing_notices WHERE user_id = @userId
            ORDER BY 1
            """, new { userId }));

    private async Task<HttpResponseMessage> DeliverAsync(string payload)
    {
        using var client = _app.NewClient();
        var header = EventUtility.GenerateSignatureHeader(payload, _app.Emulator.WebhookSecret, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
        return await client.SendAsync(request);
    }
}
