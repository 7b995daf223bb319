using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Tests.Infrastructure;
using MimeKit;
using netDumbster.smtp;
using Microsoft.Extensions.DependencyInjection;
using Stripe;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// A renewal that cannot be charged: the plan goes past_due, generation stops with <c>subscription_inactive</c>, the customer
/// gets one email with a link to /billing (built from App:PublicBaseUrl), and /billing offers the portal; a retry that pays
/// brings generation back; once Stripe's retries are used up the app follows the subscription to canceled or unpaid.
/// Webhooks arrive twice and out of order throughout.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class DunningTests : IDisposable
{
    private const string PublicBaseUrl = "https://gensaas.test";
    private readonly int _smtpPort = FreeTcpPort();
    private SimpleSmtpServer? _smtp;
    private BillingTestApp? _app;

    public DunningTests() => _smtp = SimpleSmtpServer.Start(_smtpPort);

    private BillingTestApp Start(string afterRetries, int retries = 2, int windowDays = 2)
    {
        _app = new BillingTestApp(new()
        {
            ["App:PublicBaseUrl"] = PublicBaseUrl,
            // The emulator would otherwise link its pages and send webhooks to the public address, which is not this test's.
            ["Billing:Emulator:PublicBaseUrl"] = "",
            ["Billing:Emulator:Faults"] = "Duplicate, Shuffle",
            ["Billing:Emulator:RenewalRetries"] = retries.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Billing:Emulator:RenewalRetryWindowDays"] = windowDays.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Billing:Emulator:SubscriptionStatusAfterRetries"] = afterRetries,
            ["Email:Smtp:Host"] = "127.0.0.1",
            ["Email:Smtp:Port"] = _smtpPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Email:Smtp:Security"] = "None",
            ["Email:Smtp:TimeoutSeconds"] = "5",
        });
        return _app;
    }

    public void Dispose()
    {
        _app?.Dispose();
        _smtp?.Dispose();
    }

    /// <summary>The dunning emails to the address (the subscriber also gets the subscription's other lifecycle emails).</summary>
    private List<MimeMessage> DunningMailTo(string email) =>
        (_smtp?.ReceivedEmail.ToArray() ?? []).Where(m => m.ToAddresses.Any(a => a.Address == email))
            .Select(m => MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(m.Data))))
            .Where(m => (m.Subject ?? "").Contains("payment failed")).ToList();

    private static async Task<(string User, HttpClient Client, string Email)> SubscribedOnFailingCardAsync(BillingTestApp app)
    {
        var email = NewEmail();
        var user = await app.CreateUserAsync(email);
        var client = await app.SignInAsync(email);
        // Stripe refuses a card that fails every charge at the first invoice: subscribe with a good card, then switch.
        await app.BuyAsync(client, "subscription_unlimited", TestCard.Visa);
        await app.ChangeCardInPortalAsync(client, TestCard.VisaDeclinedAfterAttach);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        return (user.Id, client, email);
    }

    [Fact]
    public async Task FailedRenewal_EmailsOnceWithBillingLink_StopsGeneration_AndANewCardInThePortalResumesIt()
    {
        var app = Start("Canceled");
        var (userId, client, email) = await SubscribedOnFailingCardAsync(app);

        await app.AdvanceClockAsync(32);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(userId) == "past_due", "subscription past_due");
        var refused = await app.GenerateAsync(client);
        refused.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        (await BillingTestApp.ProblemCodeAsync(refused)).ShouldBe("subscription_inactive");

        var mail = (await EventuallyAsync(() => DunningMailTo(email))).ShouldHaveSingleItem();
        (mail.Subject ?? "").ShouldContain("payment failed");
        var link = FirstLink(mail.HtmlBody ?? "");
        link.ShouldBe(PublicBaseUrl + "/billing");

        // The link's page shows the notice and a button that opens the portal for the signed-in customer.
        var page = await client.GetStringAsync(new Uri(link).PathAndQuery);
        page.ShouldContain("data-testid=\"past-due-notice\"");
        page.ShouldContain("data-testid=\"update-card\"");
        var portal = await client.PostAsync("/api/billing/portal", new FormUrlEncodedContent([new("__RequestVerificationToken", TestApp.AntiforgeryToken(page))]));
        portal.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        var portalPath = new Uri(portal.Headers.Location!.ToString()).PathAndQuery;
        portalPath.ShouldStartWith("/emulator/portal/");

        // Every retry failing again, and a replay of the failure, are about the same invoice: still one email.
        var failures = (await new EventService(app.StripeClient).ListAsync(new EventListOptions { Type = "invoice.payment_failed", Limit = 100 })).Data;
        var failure = failures.First(e => ((Invoice)e.Data.Object).BillingReason == "subscription_cycle");
        (await DeliverAsync(app, failure.RawJsonElement!.Value.GetRawText())).StatusCode.ShouldBe(HttpStatusCode.OK);
        var copy = JsonNode.Parse(failure.RawJsonElement!.Value.GetRawText())!;
        copy["id"] = "evt_again_" + Guid.NewGuid().ToString("N");
        (await DeliverAsync(app, copy.ToJsonString())).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await app.QueryAsync<long>("SELECT count(*) FROM billing_notices WHERE user_id = @userId", new { userId })).ShouldBe(1);

        using (var browser = app.NewClient())
        {
            var changed = await TestApp.PostFormAsync(browser, portalPath + "?handler=Card", new() { ["Input.CardNumber"] = TestCard.Visa });
            changed.StatusCode.ShouldBeOneOf(HttpStatusCode.Redirect, HttpStatusCode.OK);
        }
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(userId) == "active", "subscription active again");
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await client.GetStringAsync("/billing")).ShouldNotContain("data-testid=\"past-due-notice\"");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @userId AND kind = 'subscription_invoice' AND status = 'paid'", new { userId }) == 2,
            "the renewal invoice recorded as paid");

        await Task.Delay(TimeSpan.FromSeconds(3));
        DunningMailTo(email).Count.ShouldBe(1);
    }

    [Fact]
    public async Task RetriesUsedUp_ConfiguredCanceled_ThePlanIsGone()
    {
        var app = Start("Canceled", retries: 1, windowDays: 1);
        var (userId, client, email) = await SubscribedOnFailingCardAsync(app);

        await app.AdvanceClockAsync(32);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(userId) == "past_due", "subscription past_due");
        await app.AdvanceClockAsync(2);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(userId) == "canceled", "subscription canceled");

        var me = await client.GetFromJsonAsync<JsonElement>("/api/v1/me");
        me.GetProperty("plan").GetString().ShouldNotBe("subscription_unlimited");
        var refused = await app.GenerateAsync(client);
        refused.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        (await BillingTestApp.ProblemCodeAsync(refused)).ShouldBe("insufficient_credits");
        (await client.GetStringAsync("/billing")).ShouldNotContain("data-testid=\"past-due-notice\"");
        (await EventuallyAsync(() => DunningMailTo(email))).Count.ShouldBe(1);
    }

    [Fact]
    public async Task RetriesUsedUp_ConfiguredUnpaid_GenerationStaysStopped_AndBillingOffersTheCardUpdate()
    {
        var app = Start("Unpaid", retries: 1, windowDays: 1);
        var (userId, client, email) = await SubscribedOnFailingCardAsync(app);

        await app.AdvanceClockAsync(32);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(userId) == "past_due", "subscription past_due");
        await app.AdvanceClockAsync(2);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(userId) == "unpaid", "subscription unpaid");

        var refused = await app.GenerateAsync(client);
        refused.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        (await BillingTestApp.ProblemCodeAsync(refused)).ShouldBe("subscription_inactive");
        var page = await client.GetStringAsync("/billing");
        page.ShouldContain("data-testid=\"past-due-notice\"");
        page.ShouldContain("data-testid=\"update-card\"");
        (await EventuallyAsync(() => DunningMailTo(email))).Count.ShouldBe(1);
    }

    [Fact]
    public async Task TheDunningEmail_WhenSmtpIsDown_GoesOutOnceWhenItIsBack()
    {
        _smtp!.Dispose();
        _smtp = null;
        var app = Start("Canceled");
        var (userId, _, email) = await SubscribedOnFailingCardAsync(app);

        await app.AdvanceClockAsync(32);
        await BillingTestApp.EventuallyAsync(async () => await app.SubscriptionStatusAsync(userId) == "past_due", "subscription past_due");
        // The job's first attempt meets a closed port and gives its claim back; the retry finds the relay up.
        var monitoring = app.Services.GetRequiredService<Hangfire.JobStorage>().GetMonitoringApi();
        await BillingTestApp.EventuallyAsync(() => Task.FromResult(
            monitoring.ScheduledJobs(0, 100).Any(j => j.Value.Job?.Type == typeof(GenSaaS.Web.Features.Billing.BillingNoticeJob))), "the email job failed once and waits to retry", seconds: 60);
        (await app.QueryAsync<long>("SELECT count(*) FROM billing_notices WHERE user_id = @userId AND sent_at IS NULL", new { userId })).ShouldBe(1);
        _smtp = SimpleSmtpServer.Start(_smtpPort);

        (await EventuallyAsync(() => DunningMailTo(email), timeoutSeconds: 60)).ShouldHaveSingleItem();
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<long>("SELECT count(*) FROM billing_notices WHERE user_id = @userId AND sent_at IS NOT NULL", new { userId }) == 1, "the notice marked sent");
    }

    private static async Task<HttpResponseMessage> DeliverAsync(BillingTestApp app, string payload)
    {
        using var client = app.NewClient();
        var header = EventUtility.GenerateSignatureHeader(payload, app.Emulator.WebhookSecret, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
        return await client.SendAsync(request);
    }
}
