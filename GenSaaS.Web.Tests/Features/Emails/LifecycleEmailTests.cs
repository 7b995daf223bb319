using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Tests.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;
using MimeKit;
using Stripe;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Emails;

/// <summary>
/// The emails of a customer's billing life, each sent once per event while Stripe delivers every webhook twice and out of
/// order, and replays are delivered on top: a bundle's receipt, a subscription started, renewed, its renewal failing, ended.
/// Each is one message with a text and an HTML part, and its links are on App:PublicBaseUrl whatever Host the requests carried.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class LifecycleEmailTests : IDisposable
{
    private const string PublicBaseUrl = "https://gensaas.test";
    private const string Attacker = "evil.example";
    private readonly SmtpCatcher _mail = new();
    private BillingTestApp? _app;

    private BillingTestApp Start(int retries = 2, int windowDays = 2) => _app = new BillingTestApp(_mail.Settings(new()
    {
        ["App:PublicBaseUrl"] = PublicBaseUrl,
        // Requests with any Host reach the app, so a forged one is really served (and must still not leak into a link).
        ["AllowedHosts"] = "*",
        ["Billing:Emulator:PublicBaseUrl"] = "",
        ["Billing:Emulator:Faults"] = "Duplicate, Shuffle",
        ["Billing:Emulator:RenewalRetries"] = retries.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Billing:Emulator:RenewalRetryWindowDays"] = windowDays.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Billing:Emulator:SubscriptionStatusAfterRetries"] = "Canceled",
    }));

    public void Dispose()
    {
        _app?.Dispose();
        _mail.Dispose();
    }

    private List<MimeMessage> MailTo(string email, string subject) =>
        _mail.To(email).Where(m => (m.Subject ?? "").Contains(subject, StringComparison.Ordinal)).ToList();

    private async Task<MimeMessage> OneMailAsync(string email, string subject) =>
        (await EventuallyAsync(() => MailTo(email, subject))).ShouldHaveSingleItem($"one email '{subject}'");

    /// <summary>Both parts, and every link (HTML hrefs and the text's URLs) on the public address, never the forged host.</summary>
    private static (string Text, string Html) Parts(MimeMessage mail)
    {
        var alternative = mail.Body.ShouldBeOfType<MultipartAlternative>();
        alternative.Select(p => p.ContentType.MimeType).ShouldBe(["text/plain", "text/html"]);
        var text = mail.TextBody.ShouldNotBeNull();
        var html = mail.HtmlBody.ShouldNotBeNull();
        var links = System.Text.RegularExpressions.Regex.Matches(html, "href=\"([^\"]+)\"").Select(m => WebUtility.HtmlDecode(m.Groups[1].Value)).ToList();
        links.ShouldNotBeEmpty();
        links.Where(l => !l.StartsWith("https://pay.stripe.com/", StringComparison.Ordinal) && !l.StartsWith("https://invoice.stripe.com/", StringComparison.Ordinal))
            .ShouldAllBe(l => l.StartsWith(PublicBaseUrl + "/", StringComparison.Ordinal));
        text.ShouldContain(PublicBaseUrl + "/billing");
        html.ShouldContain($"href=\"{PublicBaseUrl}/billing\"");
        (text + html).ShouldNotContain(Attacker);
        text.ShouldNotContain("<p>");
        return (text, html);
    }

    private static string Money(long minor) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{minor / 100m:0.00} USD");

    private static HttpClient Forged(HttpClient client)
    {
        client.DefaultRequestHeaders.Host = Attacker;
        client.DefaultRequestHeaders.Add("X-Forwarded-Host", Attacker);
        return client;
    }

    /// <summary>Every event Stripe sent so far, delivered again under new ids (as a replay from the dashboard would), newest first, with a forged Host.</summary>
    private async Task ReplayEverythingAsync(BillingTestApp app)
    {
        var events = (await new EventService(app.StripeClient).ListAsync(new EventListOptions { Limit = 100 })).Data;
        using var client = Forged(app.NewClient());
        foreach (var e in events.OrderByDescending(e => e.Created))
        {
            var copy = JsonNode.Parse(e.RawJsonElement!.Value.GetRawText())!;
            copy["id"] = "evt_replay_" + Guid.NewGuid().ToString("N");
            var payload = copy.ToJsonString();
            var header = EventUtility.GenerateSignatureHeader(payload, app.Emulator.WebhookSecret, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
            request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
            (await client.SendAsync(request)).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
    }

    /// <summary>Waits until no email job is left to run, so a count taken afterwards is final.</summary>
    private static Task JobsSettledAsync(BillingTestApp app) => app.JobsSettledAsync();

    [Fact]
    public async Task ABundlePaid_SendsOneReceipt_NamingAmountCreditsAndReceipt_OnThePublicAddress_AcrossReplaysAndAForgedHost()
    {
        var app = Start();
        var email = NewEmail();
        var user = await app.CreateUserAsync(email);
        var client = Forged(await app.SignInAsync(email));
        var sessionId = await app.BuyAsync(client, "bundle_10");
        // The customer's own return to the success page fulfils it too, asked with the forged Host.
        (await client.GetAsync($"/billing/success?session_id={sessionId}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "10 credits granted");

        var receipt = await OneMailAsync(email, "Your GenSaaS receipt");
        var (text, html) = Parts(receipt);
        var amount = await app.QueryAsync<long>("SELECT amount_minor FROM payments WHERE kind = 'bundle' AND stripe_id = @sessionId", new { sessionId });
        var shown = Money(amount);
        receipt.Subject.ShouldBe($"Your GenSaaS receipt: 10 credits for {shown}");
        text.ShouldContain($"Paid: {shown}");
        text.ShouldContain("Credits added: 10");
        html.ShouldContain($"<td>{shown}</td>");
        html.ShouldContain("<td>10</td>");
        var intent = await new PaymentIntentService(app.StripeClient).GetAsync(
            await app.QueryAsync<string>("SELECT payment_intent_id FROM payments WHERE kind = 'bundle' AND stripe_id = @sessionId", new { sessionId }));
        var receiptUrl = (await new ChargeService(app.StripeClient).GetAsync(intent.LatestChargeId)).ReceiptUrl.ShouldNotBeNull();
        text.ShouldContain("Receipt: " + receiptUrl);
        html.ShouldContain($"href=\"{receiptUrl}\"");

        await ReplayEverythingAsync(app);
        (await client.GetAsync($"/billing/success?session_id={sessionId}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await JobsSettledAsync(app);
        MailTo(email, "Your GenSaaS receipt").Count.ShouldBe(1);
        (await app.PrepaidAsync(user.Id)).ShouldBe(10);
        (await app.QueryAsync<long>("SELECT count(*) FROM sent_emails WHERE user_id = @id AND kind = 'PurchaseReceipt' AND reference = @sessionId AND sent_at IS NOT NULL",
            new { id = user.Id, sessionId })).ShouldBe(1);
    }

    [Fact]
    public async Task ASubscription_StartedRenewedAndEnded_SendsEachEmailOnce_AcrossReplays()
    {
        var app = Start();
        var email = NewEmail();
        var user = await app.CreateUserAsync(email);
        var client = Forged(await app.SignInAsync(email));
        await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        var subscriptionId = await app.QueryAsync<string>("SELECT stripe_subscription_id FROM subscriptions WHERE user_id = @id", new { id = user.Id });
        var firstInvoice = (await new SubscriptionService(app.StripeClient).GetAsync(subscriptionId)).LatestInvoiceId;
        var firstPaid = (await new InvoiceService(app.StripeClient).GetAsync(firstInvoice)).AmountPaid;

        var started = await OneMailAsync(email, "Your GenSaaS subscription has started");
        var (startedText, startedHtml) = Parts(started);
        var price = Money(firstPaid);
        startedText.ShouldContain($"We received your payment of {price}");
        startedHtml.ShouldContain(price);
        var periodEnd = await app.QueryAsync<string>("SELECT substr(current_period_end, 1, 10) FROM subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId });
        startedText.ShouldContain($"This period runs until {periodEnd}");

        // A month later Stripe renews it: one email for the cycle's paid invoice.
        await app.AdvanceClockAsync(32);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'subscription_invoice' AND status = 'paid'", new { id = user.Id }) == 2,
            "the renewal invoice paid");
        var renewed = await OneMailAsync(email, "Your GenSaaS subscription renewed");
        renewed.Subject.ShouldBe($"Your GenSaaS subscription renewed: {price} paid");
        var (renewedText, renewedHtml) = Parts(renewed);
        var renewal = (await new InvoiceService(app.StripeClient).ListAsync(new InvoiceListOptions { Subscription = subscriptionId })).Data
            .Single(i => i.BillingReason == "subscription_cycle");
        renewedText.ShouldContain("Invoice: " + renewal.HostedInvoiceUrl.ShouldNotBeNull());
        renewedHtml.ShouldContain($"href=\"{renewal.HostedInvoiceUrl}\"");
        var newPeriodEnd = await app.QueryAsync<string>("SELECT substr(current_period_end, 1, 10) FROM subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId });
        newPeriodEnd.ShouldNotBe(periodEnd);
        renewedText.ShouldContain($"The new period runs until {newPeriodEnd}");

        // The customer cancels (here through Stripe's API, as the portal does): the plan ends, one email.
        await new SubscriptionService(app.StripeClient).CancelAsync(subscriptionId);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "canceled", "subscription canceled");
        var ended = await OneMailAsync(email, "Your GenSaaS subscription has ended");
        Parts(ended).Text.ShouldContain("will not be charged again");

        await ReplayEverythingAsync(app);
        await JobsSettledAsync(app);
        MailTo(email, "has started").Count.ShouldBe(1);
        MailTo(email, "renewed").Count.ShouldBe(1);
        MailTo(email, "has ended").Count.ShouldBe(1);
        MailTo(email, "payment failed").ShouldBeEmpty();
        (await app.ListAsync<string>("SELECT kind || ':' || reference FROM sent_emails WHERE user_id = @id ORDER BY kind", new { id = user.Id }))
            .ShouldBe([$"SubscriptionCanceled:{subscriptionId}", $"SubscriptionRenewed:{renewal.Id}", $"SubscriptionStarted:{subscriptionId}"]);
    }

    [Fact]
    public async Task ARenewalThatFails_SendsOneDunningEmail_WithBothParts_AndWhenStripeGivesUp_OneEndedEmail()
    {
        var app = Start(retries: 1, windowDays: 1);
        var email = NewEmail();
        var user = await app.CreateUserAsync(email);
        var client = await app.SignInAsync(email);
        await app.BuyAsync(client, "subscription_unlimited", TestCard.Visa);
        await app.ChangeCardInPortalAsync(client, TestCard.VisaDeclinedAfterAttach);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");

        await app.AdvanceClockAsync(32);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "past_due", "subscription past_due");
        var dunning = await OneMailAsync(email, "payment failed");
        var (text, html) = Parts(dunning);
        text.ShouldContain("Update your card on your billing page");
        FirstLink(html).ShouldBe(PublicBaseUrl + "/billing");

        await app.AdvanceClockAsync(2);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "canceled", "subscription canceled after the retries");
        Parts(await OneMailAsync(email, "has ended"));

        await ReplayEverythingAsync(app);
        await JobsSettledAsync(app);
        MailTo(email, "payment failed").Count.ShouldBe(1);
        MailTo(email, "has ended").Count.ShouldBe(1);
        MailTo(email, "renewed").ShouldBeEmpty();
        MailTo(email, "has started").Count.ShouldBe(1);
    }
}
