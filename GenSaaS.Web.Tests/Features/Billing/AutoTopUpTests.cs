using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>One app with real SMTP for the auto top-up tests (each test uses its own customers).</summary>
public sealed class AutoTopUpFixture : IDisposable
{
    public SmtpCatcher Mail { get; } = new();

    public BillingTestApp App { get; }

    public AutoTopUpFixture() => App = new BillingTestApp(Mail.Settings());

    public void Dispose()
    {
        App.Dispose();
        Mail.Dispose();
    }
}

/// <summary>
/// Auto top-up over real HTTP, the emulator and real SMTP: the settings API and form, one top-up per crossing however many
/// generations cross together, the monthly cap, declines, 3-D Secure, three failures turning it off, the waiting generation,
/// and a replayed webhook granting once.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class AutoTopUpTests(AutoTopUpFixture fixture) : IClassFixture<AutoTopUpFixture>
{
    private BillingTestApp App => fixture.App;

    private const int Threshold = 10;

    private sealed record Row(long Id, string Status, string? ErrorCode, string? PaymentIntentId, long Balance, long TurnedOff, string CreatedAt, string? SettledAt);

    private Task<List<Row>> TopUpsAsync(string userId) => App.ListAsync<Row>(
        "SELECT id, status, error_code AS ErrorCode, payment_intent_id AS PaymentIntentId, balance, turned_off AS TurnedOff, created_at AS CreatedAt, settled_at AS SettledAt FROM auto_top_ups WHERE user_id = @userId ORDER BY id",
        new { userId });

    private Task WhenSettledAsync(string userId, int count) => BillingTestApp.EventuallyAsync(async () =>
    {
        var rows = await TopUpsAsync(userId);
        return rows.Count == count && rows.All(r => r.Status != "pending");
    }, $"{count} settled top-up(s)");

    /// <summary>A signed-in customer who saved <paramref name="card"/> on /billing and holds <paramref name="prepaid"/> prepaid credits.</summary>
    private async Task<(IdentityUser User, HttpClient Client)> CustomerAsync(string card = TestCard.Visa, int prepaid = 0, BillingTestApp? app = null)
    {
        app ??= App;
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use", card);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT card_last4 FROM billing_customers WHERE user_id = @id", new { id = user.Id }) == card[^4..], "card saved");
        if (prepaid > 0)
            await app.Services.GetRequiredService<CreditLedger>().GrantAsync(user.Id, CreditBucket.Prepaid, prepaid, "Test credits", $"test:{Guid.NewGuid():N}", "test");
        return (user, client);
    }

    private static Task<HttpResponseMessage> PutAsync(HttpClient client, object body) => client.PutAsJsonAsync(AutoTopUpApi.Path, body);

    private static async Task TurnOnAsync(HttpClient client, long threshold = Threshold, long capMinor = 2000, string bundle = "bundle_10")
    {
        var response = await PutAsync(client, new { enabled = true, threshold, bundle, monthlyCapMinor = capMinor });
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    private static async Task<JsonElement> AutoTopUpAsync(HttpClient client) =>
        JsonDocument.Parse(await client.GetStringAsync("/api/v1/billing")).RootElement.GetProperty("autoTopUp");

    private async Task GenerateOkAsync(HttpClient client)
    {
        var response = await App.GenerateAsync(client);
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    private List<MimeMessage> MailTo(string email, string subject) => fixture.Mail.To(email).Where(m => m.Subject == subject).ToList();

    private async Task<List<PaymentIntent>> TopUpIntentsAsync(string userId)
    {
        var customer = await App.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = userId });
        var all = await new PaymentIntentService(App.StripeClient).ListAsync(new PaymentIntentListOptions { Customer = customer, Limit = 100 });
        return all.Data.Where(i => i.Metadata.ContainsKey(AutoTopUpCharges.MetadataKey)).ToList();
    }

    // ---- settings ----

    public static TheoryData<string, string> BadBodies => new()
    {
        { """{"threshold": 5, "bundle": "bundle_10", "monthlyCapMinor": 2000}""", "enabled" },
        { """{"enabled": "yes", "threshold": 5, "bundle": "bundle_10", "monthlyCapMinor": 2000}""", "enabled" },
        { """{"enabled": true, "threshold": "5", "bundle": "bundle_10", "monthlyCapMinor": 2000}""", "threshold" },
        { """{"enabled": true, "threshold": 2.5, "bundle": "bundle_10", "monthlyCapMinor": 2000}""", "threshold" },
        { """{"enabled": true, "threshold": 0, "bundle": "bundle_10", "monthlyCapMinor": 2000}""", "threshold" },
        { """{"enabled": true, "threshold": 1000001, "bundle": "bundle_10", "monthlyCapMinor": 2000}""", "threshold" },
        { """{"enabled": true, "threshold": 5, "bundle": "pay_per_use", "monthlyCapMinor": 2000}""", "bundle" },
        { """{"enabled": true, "threshold": 5, "bundle": "bundle_999", "monthlyCapMinor": 2000}""", "bundle" },
        { """{"enabled": true, "threshold": 5, "bundle": 10, "monthlyCapMinor": 2000}""", "bundle" },
        { """{"enabled": true, "threshold": 5, "bundle": "bundle_10", "monthlyCapMinor": 399}""", "monthlyCapMinor" },
        { """{"enabled": true, "threshold": 5, "bundle": "bundle_10", "monthlyCapMinor": 10000001}""", "monthlyCapMinor" },
        { """{"enabled": true, "threshold": 5, "bundle": "bundle_10", "monthlyCapMinor": 20.5}""", "monthlyCapMinor" },
        { """{"enabled": true, "threshold": 5, "bundle": "bundle_10", "monthlyCapMinor": 2000, "cap": 1}""", "cap" },
        { """[true]""", "body" },
        { """{"enabled": tru""", "body" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Settings_BadInput_Is400ValidationFailed_NamingTheField_AndChangesNothing(string body, string field)
    {
        var (_, client) = await CustomerAsync();
        await TurnOnAsync(client, threshold: 7, capMinor: 1200);

        var response = await client.PutAsync(AutoTopUpApi.Path, new StringContent(body, Encoding.UTF8, "application/json"));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("code").GetString().ShouldBe("validation_failed");
        problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue(problem.ToString());
        var stored = await AutoTopUpAsync(client);
        stored.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        stored.GetProperty("threshold").GetInt64().ShouldBe(7);
        stored.GetProperty("monthlyCapMinor").GetInt64().ShouldBe(1200);
    }

    [Theory]
    [InlineData(1, 400)]
    [InlineData(1_000_000, 10_000_000)]
    public async Task Settings_AtTheirLimits_AreAccepted(long threshold, long capMinor)
    {
        var (user, client) = await CustomerAsync();

        var response = await PutAsync(client, new { enabled = true, threshold, bundle = "bundle_10", monthlyCapMinor = capMinor });

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var stored = await AutoTopUpAsync(client);
        stored.GetProperty("threshold").GetInt64().ShouldBe(threshold);
        stored.GetProperty("monthlyCapMinor").GetInt64().ShouldBe(capMinor);
        (await App.QueryAsync<long>("SELECT armed FROM auto_top_up_settings WHERE user_id = @id", new { id = user.Id })).ShouldBe(1);
    }

    [Fact]
    public async Task Settings_AreAnsweredAndShownInGetBilling_NeedTheBillingScope_AndTurningOffKeepsTheRest()
    {
        var (user, client) = await CustomerAsync();
        var before = await AutoTopUpAsync(client);
        before.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        before.GetProperty("threshold").ValueKind.ShouldBe(JsonValueKind.Null);

        var response = await PutAsync(client, new { enabled = true, threshold = 8, bundle = "bundle_25", monthlyCapMinor = 2700 });
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var answered = await response.Content.ReadFromJsonAsync<JsonElement>();
        answered.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        answered.GetProperty("bundle").GetString().ShouldBe("bundle_25");
        answered.GetProperty("bundleCredits").GetInt32().ShouldBe(25);
        answered.GetProperty("bundlePriceMinor").GetInt64().ShouldBe(900);
        answered.GetProperty("currency").GetString().ShouldBe("usd");
        answered.GetProperty("chargedThisMonthMinor").GetInt64().ShouldBe(0);
        answered.GetProperty("maxMoreThisMonthMinor").GetInt64().ShouldBe(2700, "three bundles of 9.00 fit under 27.00");
        (await AutoTopUpAsync(client)).ToString().ShouldBe(answered.ToString());

        (await PutAsync(client, new { enabled = false })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var off = await AutoTopUpAsync(client);
        off.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        off.GetProperty("threshold").GetInt64().ShouldBe(8);
        off.GetProperty("bundle").GetString().ShouldBe("bundle_25");

        var store = App.Services.GetRequiredService<ApiKeyStore>();
        using var readOnly = App.NewClient();
        readOnly.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            (await store.CreateAsync(user.Id, "default", [ApiKeyScopes.Generate, ApiKeyScopes.Read], CancellationToken.None))!.Value.Key);
        var refused = await PutAsync(readOnly, new { enabled = true });
        refused.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await BillingTestApp.ProblemCodeAsync(refused)).ShouldBe("insufficient_scope");
        using var billing = App.NewClient();
        billing.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await store.CreateAsync(user.Id, "billing", [ApiKeyScopes.Billing], CancellationToken.None))!.Value.Key);
        (await PutAsync(billing, new { enabled = true })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await AutoTopUpAsync(client)).GetProperty("enabled").GetBoolean().ShouldBeTrue();
        using var anonymous = App.NewClient();
        (await PutAsync(anonymous, new { enabled = true })).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Settings_WithoutASavedCard_TurningOnIs409NoSavedCard_OnTheFormToo_AndTurningOffIsFine()
    {
        var (_, client) = await App.SignedInUserAsync();

        var response = await PutAsync(client, new { enabled = true, threshold = 5, bundle = "bundle_10", monthlyCapMinor = 800 });

        response.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await BillingTestApp.ProblemCodeAsync(response)).ShouldBe("no_saved_card");
        (await AutoTopUpAsync(client)).GetProperty("enabled").GetBoolean().ShouldBeFalse();
        (await PutAsync(client, new { enabled = false, threshold = 5, bundle = "bundle_10", monthlyCapMinor = 800 })).StatusCode.ShouldBe(HttpStatusCode.OK);

        var form = await TestApp.PostFormAsync(client, "/billing?handler=AutoTopUp", new()
        {
            ["AutoTopUpForm.Enabled"] = "true", ["AutoTopUpForm.Threshold"] = "5", ["AutoTopUpForm.Bundle"] = "bundle_10", ["AutoTopUpForm.MonthlyCap"] = "8",
        });
        form.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await form.Content.ReadAsStringAsync()).ShouldContain("needs a saved card");
        (await AutoTopUpAsync(client)).GetProperty("enabled").GetBoolean().ShouldBeFalse();
    }

    [Fact]
    public async Task BillingPage_Form_TurnsItOn_ShowsWhatItCanChargeThisMonth_AndRefusesABadCap()
    {
        var (_, client) = await CustomerAsync();
        var bad = await TestApp.PostFormAsync(client, "/billing?handler=AutoTopUp", new()
        {
            ["AutoTopUpForm.Enabled"] = "true", ["AutoTopUpForm.Threshold"] = "5", ["AutoTopUpForm.Bundle"] = "bundle_10", ["AutoTopUpForm.MonthlyCap"] = "3.99",
        });
        bad.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await bad.Content.ReadAsStringAsync()).ShouldContain("at least the bundle");

        var saved = await TestApp.PostFormAsync(client, "/billing?handler=AutoTopUp", new()
        {
            ["AutoTopUpForm.Enabled"] = "true", ["AutoTopUpForm.Threshold"] = "5", ["AutoTopUpForm.Bundle"] = "bundle_10", ["AutoTopUpForm.MonthlyCap"] = "10",
        });
        saved.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var page = await client.GetStringAsync("/billing");
        page.ShouldContain("Auto top-up is on");
        page.ShouldContain("data-testid=\"auto-top-up-max-more\">8.00 USD<", Case.Sensitive, "two 4.00 bundles fit under a 10.00 cap");
        page.ShouldContain("data-testid=\"auto-top-up-charged\">0.00 USD<");
        var state = await AutoTopUpAsync(client);
        state.GetProperty("threshold").GetInt64().ShouldBe(5);
        state.GetProperty("monthlyCapMinor").GetInt64().ShouldBe(1000);
    }

    // ---- the crossing ----

    [Fact]
    public async Task FiftyConcurrentGenerations_AcrossTheThreshold_OneTopUpPerCrossing_NeverTwoPending_AndTheLedgerAddsUp()
    {
        var (user, client) = await CustomerAsync(prepaid: 12);
        await TurnOnAsync(client, capMinor: 2000);

        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => App.GenerateAsync(client)));

        responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.Created);
        await BillingTestApp.EventuallyAsync(async () => (await TopUpsAsync(user.Id)).All(r => r.Status != "pending"), "no top-up pending");
        var rows = await TopUpsAsync(user.Id);
        rows.Count.ShouldBeInRange(1, 5);
        rows.ShouldAllBe(r => r.Status == "succeeded" && r.Balance < Threshold);
        for (var i = 1; i < rows.Count; i++)
            string.CompareOrdinal(rows[i].CreatedAt, rows[i - 1].SettledAt).ShouldBeGreaterThanOrEqualTo(0, "a top-up is recorded only after the one before it settled");

        foreach (var row in rows)
        {
            (await App.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE kind = 'grant' AND reference = @pi AND amount = 10", new { pi = row.PaymentIntentId })).ShouldBe(1);
            (await App.QueryAsync<long>("SELECT count(*) FROM payments WHERE kind = 'bundle' AND stripe_id = @pi AND status = 'paid' AND credits = 10 AND amount_minor = 400",
                new { pi = row.PaymentIntentId })).ShouldBe(1);
        }
        var intents = await TopUpIntentsAsync(user.Id);
        intents.Count.ShouldBe(rows.Count, "one PaymentIntent per top-up");
        intents.ShouldAllBe(i => i.Status == "succeeded" && i.Amount == 400);

        var prepaid = await App.PrepaidAsync(user.Id);
        var prepaidUsed = await App.QueryAsync<long>("SELECT count(*) FROM usage WHERE user_id = @id AND funding_source = 'prepaid' AND state = 'succeeded'", new { id = user.Id });
        prepaid.ShouldBe(12 + 10 * rows.Count - prepaidUsed);
        (await App.QueryAsync<long>("SELECT sum(amount) FROM credit_ledger WHERE user_id = @id AND bucket = 'prepaid'", new { id = user.Id })).ShouldBe(prepaid);
        (await App.QueryAsync<long>("SELECT count(*) FROM generations WHERE user_id = @id", new { id = user.Id })).ShouldBe(50);
    }

    [Fact]
    public async Task MonthlyCap_StopsTheSecondTopUp_StaysArmed_AndARaisedCapTopsUpAtTheNextGeneration()
    {
        var (user, client) = await CustomerAsync(prepaid: 12);
        await TurnOnAsync(client, capMinor: 400);

        var responses = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => App.GenerateAsync(client)));
        responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.Created);
        await WhenSettledAsync(user.Id, 1);
        while (await App.PrepaidAsync(user.Id) >= Threshold)
            await GenerateOkAsync(client);
        await GenerateOkAsync(client);

        (await TopUpsAsync(user.Id)).Count.ShouldBe(1, "a second bundle would take the month above 4.00");
        var state = await AutoTopUpAsync(client);
        state.GetProperty("chargedThisMonthMinor").GetInt64().ShouldBe(400);
        state.GetProperty("maxMoreThisMonthMinor").GetInt64().ShouldBe(0);
        (await App.QueryAsync<long>("SELECT armed FROM auto_top_up_settings WHERE user_id = @id", new { id = user.Id })).ShouldBe(1);

        (await PutAsync(client, new { enabled = true, monthlyCapMinor = 800 })).StatusCode.ShouldBe(HttpStatusCode.OK);
        await GenerateOkAsync(client);
        await WhenSettledAsync(user.Id, 2);
        (await AutoTopUpAsync(client)).GetProperty("chargedThisMonthMinor").GetInt64().ShouldBe(800);
    }

    [Fact]
    public async Task Crossing_AtTheThresholdIsNotBelowIt_OneBelowIs_AndTurnedOffRecordsNothing()
    {
        var (user, client) = await CustomerAsync(prepaid: 12);
        await TurnOnAsync(client);
        (await PutAsync(client, new { enabled = false })).StatusCode.ShouldBe(HttpStatusCode.OK);
        await GenerateOkAsync(client);
        await GenerateOkAsync(client);
        await GenerateOkAsync(client);
        (await App.PrepaidAsync(user.Id)).ShouldBe(9);
        (await TopUpsAsync(user.Id)).ShouldBeEmpty("auto top-up is off");

        var (other, otherClient) = await CustomerAsync(prepaid: 11);
        await TurnOnAsync(otherClient);
        await GenerateOkAsync(otherClient);
        (await App.PrepaidAsync(other.Id)).ShouldBe(10);
        (await TopUpsAsync(other.Id)).ShouldBeEmpty("10 is not below a threshold of 10");
        await GenerateOkAsync(otherClient);
        var rows = await TopUpsAsync(other.Id);
        rows.Count.ShouldBe(1);
        rows[0].Balance.ShouldBe(9);
        await WhenSettledAsync(other.Id, 1);
        (await App.PrepaidAsync(other.Id)).ShouldBe(19);

        // Turned on with the balance already below: the next generation tops up.
        await TurnOnAsync(client);
        await GenerateOkAsync(client);
        await WhenSettledAsync(user.Id, 1);
        (await App.PrepaidAsync(user.Id)).ShouldBe(18);
    }

    [Fact]
    public async Task Crossing_WithoutASavedCard_RecordsNothing()
    {
        var (user, client) = await CustomerAsync(prepaid: 11);
        await TurnOnAsync(client);
        var pm = await App.QueryAsync<string>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id });
        await new PaymentMethodService(App.StripeClient).DetachAsync(pm);
        await BillingTestApp.EventuallyAsync(async () =>
            await App.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id }) is null, "card removed");

        await GenerateOkAsync(client);
        await GenerateOkAsync(client);

        (await App.PrepaidAsync(user.Id)).ShouldBe(9);
        (await TopUpsAsync(user.Id)).ShouldBeEmpty();
        (await App.QueryAsync<long>("SELECT armed FROM auto_top_up_settings WHERE user_id = @id", new { id = user.Id })).ShouldBe(1);
    }

    [Fact]
    public async Task Crossing_WhileOneIsPending_RecordsNoSecond_EvenWhenSavingReArmsIt()
    {
        using var app = new BillingTestApp(new() { ["Jobs:RunServer"] = "false", ["Credits:AutoTopUpWaitSeconds"] = "0" });
        var (user, client) = await CustomerAsync(prepaid: 11, app: app);
        await TurnOnAsync(client);
        for (var i = 0; i < 2; i++)
            (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await app.ListAsync<string>("SELECT status FROM auto_top_ups WHERE user_id = @id", new { id = user.Id })).ShouldBe(["pending"], "no job server: it stays pending");

        await TurnOnAsync(client);
        (await app.QueryAsync<long>("SELECT armed FROM auto_top_up_settings WHERE user_id = @id", new { id = user.Id })).ShouldBe(1);
        for (var i = 0; i < 3; i++)
            (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);

        (await app.ListAsync<string>("SELECT status FROM auto_top_ups WHERE user_id = @id", new { id = user.Id })).ShouldBe(["pending"]);
        (await app.PrepaidAsync(user.Id)).ShouldBe(6);

        // Credits cannot pay 7 units: a caller that waits is told a top-up is on its way; one that does not is charged per use.
        var ledger = app.Services.GetRequiredService<CreditLedger>();
        var pendingId = await app.QueryAsync<long>("SELECT id FROM auto_top_ups WHERE user_id = @id", new { id = user.Id });
        var waiting = await ledger.ReserveAsync(user.Id, "seven-units", "h", units: 7, awaitTopUp: true);
        waiting.Status.ShouldBe(ReserveStatus.Denied);
        waiting.Denial!.Reason.ShouldBe(DenialReason.TopUpPending);
        waiting.Denial.TopUpId.ShouldBe(pendingId);
        waiting.AutoTopUpId.ShouldBeNull("the pending one was recorded before");
        var after = await ledger.ReserveAsync(user.Id, "seven-units", "h", units: 7, awaitTopUp: false);
        after.Status.ShouldBe(ReserveStatus.Reserved);
        after.Usage!.Source.ShouldBe(FundingSource.PayPerUse);
        (await ledger.ReleaseAsync(after.Usage.Id, "generation_failed", "test")).ShouldBeTrue();
    }

    [Fact]
    public async Task Crossing_WhenTheBundleNoLongerSellsInTheCapsCurrency_RecordsNothing()
    {
        var (user, client) = await CustomerAsync(prepaid: 10);
        await TurnOnAsync(client);
        await App.ExecuteAsync("UPDATE auto_top_up_settings SET currency = 'eur' WHERE user_id = @id", new { id = user.Id });

        await GenerateOkAsync(client);

        (await TopUpsAsync(user.Id)).ShouldBeEmpty("a cap in eur cannot bound a bundle sold in usd");
    }

    // ---- declines ----

    [Fact]
    public async Task Declined_FailsTheTopUp_EmailsALinkToFixTheCard_GrantsNothing_AndTheSameCrossingIsNotChargedAgain()
    {
        var (user, client) = await CustomerAsync(TestCard.VisaDeclinedAfterAttach, prepaid: 11);
        await TurnOnAsync(client);

        await GenerateOkAsync(client);
        await GenerateOkAsync(client);
        await WhenSettledAsync(user.Id, 1);

        var row = (await TopUpsAsync(user.Id)).Single();
        row.Status.ShouldBe("failed");
        row.ErrorCode.ShouldBe("card_declined");
        (await App.PrepaidAsync(user.Id)).ShouldBe(9);
        (await App.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE user_id = @id AND kind = 'grant' AND reason LIKE 'Auto top-up%'", new { id = user.Id })).ShouldBe(0);
        (await App.QueryAsync<string>("SELECT status FROM payments WHERE stripe_id = @pi", new { pi = row.PaymentIntentId })).ShouldBe("failed");
        var intent = (await TopUpIntentsAsync(user.Id)).Single();
        intent.LastPaymentError.Code.ShouldBe("card_declined");
        intent.Status.ShouldBe("canceled", "nothing can complete the declined payment later");
        intent.AmountReceived.ShouldBe(0);

        var email = user.Email!;
        await BillingTestApp.EventuallyAsync(() => Task.FromResult(MailTo(email, AutoTopUpEmailJob.FailedSubject).Count == 1), "the failure email");
        var body = MailTo(email, AutoTopUpEmailJob.FailedSubject)[0].HtmlBody!;
        body.ShouldContain("/billing?card=update");
        body.ShouldContain("declined");
        body.ShouldContain("You were not charged");
        var state = await AutoTopUpAsync(client);
        state.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        state.GetProperty("failuresInARow").GetInt32().ShouldBe(1);
        state.GetProperty("last").GetProperty("errorCode").GetString().ShouldBe("card_declined");
        state.GetProperty("chargedThisMonthMinor").GetInt64().ShouldBe(0, "a failed top-up charged nothing");
        (await client.GetStringAsync("/billing")).ShouldContain("data-testid=\"auto-top-up-failed\"");

        // Still below the threshold, but disarmed: the declined card is not tried at every generation.
        await GenerateOkAsync(client);
        (await TopUpsAsync(user.Id)).Count.ShouldBe(1);
        MailTo(email, AutoTopUpEmailJob.FailedSubject).Count.ShouldBe(1);

        // A purchase that lifts the balance back to the threshold re-arms it: the next crossing tries again.
        await App.Services.GetRequiredService<CreditLedger>().GrantAsync(user.Id, CreditBucket.Prepaid, 2, "Bought", $"test:{Guid.NewGuid():N}", "test");
        (await App.PrepaidAsync(user.Id)).ShouldBe(10);
        await GenerateOkAsync(client);
        await WhenSettledAsync(user.Id, 2);
    }

    [Fact]
    public async Task CardFixedInTheBillingPortal_ReArmsAutoTopUpThatADeclineSuspended_AndTheNextCrossingBuysOnTheNewCard()
    {
        var (user, client) = await CustomerAsync(TestCard.VisaDeclinedAfterAttach, prepaid: 11);
        await TurnOnAsync(client);
        await GenerateOkAsync(client);
        await GenerateOkAsync(client);
        await WhenSettledAsync(user.Id, 1);
        (await TopUpsAsync(user.Id)).Single().Status.ShouldBe("failed");
        (await App.QueryAsync<long>("SELECT armed FROM auto_top_up_settings WHERE user_id = @id", new { id = user.Id })).ShouldBe(0, "suspended by the decline");

        await App.ChangeCardInPortalAsync(client, TestCard.Visa);
        await BillingTestApp.EventuallyAsync(async () =>
            await App.QueryAsync<long>("SELECT armed FROM auto_top_up_settings WHERE user_id = @id", new { id = user.Id }) == 1, "re-armed by the new card");
        var state = await AutoTopUpAsync(client);
        state.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        state.GetProperty("failuresInARow").GetInt32().ShouldBe(0, "a new card starts the count again");

        await GenerateOkAsync(client);
        await WhenSettledAsync(user.Id, 2);
        (await TopUpsAsync(user.Id)).Select(r => r.Status).ShouldBe(["failed", "succeeded"]);
        (await App.PrepaidAsync(user.Id)).ShouldBe(18);
        (await TopUpIntentsAsync(user.Id)).Count(i => i.Status == "succeeded").ShouldBe(1);
    }

    [Fact]
    public async Task ThreeFailuresInARow_TurnAutoTopUpOff_AndTheThirdEmailSaysSo()
    {
        var (user, client) = await CustomerAsync(TestCard.VisaDeclinedAfterAttach, prepaid: 11);
        await TurnOnAsync(client);
        await GenerateOkAsync(client);
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            await GenerateOkAsync(client);
            await WhenSettledAsync(user.Id, attempt);
            if (attempt < 3)
            {
                (await AutoTopUpAsync(client)).GetProperty("enabled").GetBoolean().ShouldBeTrue($"on after {attempt} failure(s)");
                await TurnOnAsync(client);
            }
        }

        var state = await AutoTopUpAsync(client);
        state.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        state.GetProperty("turnedOffAfterFailures").GetBoolean().ShouldBeTrue();
        state.GetProperty("failuresInARow").GetInt32().ShouldBe(3);
        var rows = await TopUpsAsync(user.Id);
        rows.Select(r => r.TurnedOff).ShouldBe([0L, 0L, 1L]);
        var email = user.Email!;
        await BillingTestApp.EventuallyAsync(() => Task.FromResult(MailTo(email, AutoTopUpEmailJob.TurnedOffSubject).Count == 1), "the turned-off email");
        await BillingTestApp.EventuallyAsync(() => Task.FromResult(MailTo(email, AutoTopUpEmailJob.FailedSubject).Count == 2), "two failure emails");
        MailTo(email, AutoTopUpEmailJob.TurnedOffSubject)[0].HtmlBody!.ShouldContain("turned auto top-up off");
        (await client.GetStringAsync("/billing")).ShouldContain("data-testid=\"auto-top-up-turned-off\"");

        // A new card does not turn it back on: the customer does, on the page or the API.
        await App.ChangeCardInPortalAsync(client, TestCard.Visa);
        await BillingTestApp.EventuallyAsync(async () =>
            await App.QueryAsync<string?>("SELECT card_last4 FROM billing_customers WHERE user_id = @id", new { id = user.Id }) == TestCard.Visa[^4..], "new card stored");
        var afterCard = await AutoTopUpAsync(client);
        afterCard.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        afterCard.GetProperty("turnedOffAfterFailures").GetBoolean().ShouldBeTrue();

        (await PutAsync(client, new { enabled = true })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await AutoTopUpAsync(client)).GetProperty("failuresInARow").GetInt32().ShouldBe(0, "turning it on again starts afresh");
    }

    [Fact]
    public async Task AuthenticationRequired_FailsTheTopUp_AndTheEmailSaysTheBankWantsToConfirmIt()
    {
        var (user, client) = await CustomerAsync(TestCard.VisaAuthenticationAlways, prepaid: 10);
        await TurnOnAsync(client);

        await GenerateOkAsync(client);
        await WhenSettledAsync(user.Id, 1);

        var row = (await TopUpsAsync(user.Id)).Single();
        row.Status.ShouldBe("failed");
        row.ErrorCode.ShouldBe("authentication_required");
        var intent = (await TopUpIntentsAsync(user.Id)).Single();
        intent.LastPaymentError.Code.ShouldBe("authentication_required");
        intent.Status.ShouldBe("canceled");
        intent.AllowedPaymentMethodTypes.ShouldBe(["card"]);
        (await App.PrepaidAsync(user.Id)).ShouldBe(9);
        var email = user.Email!;
        await BillingTestApp.EventuallyAsync(() => Task.FromResult(MailTo(email, AutoTopUpEmailJob.FailedSubject).Count == 1), "the failure email");
        MailTo(email, AutoTopUpEmailJob.FailedSubject)[0].HtmlBody!.ShouldContain("3-D Secure");
    }

    // ---- waiting, webhooks ----

    [Fact]
    public async Task GenerationWithNoCredit_WaitsForTheTopUp_AndIsPaidByItsCredits_NotByTheCard()
    {
        var (user, client) = await CustomerAsync(prepaid: 0);
        await TurnOnAsync(client, threshold: 5);

        await GenerateOkAsync(client);

        (await App.ListAsync<string>("SELECT funding_source FROM usage WHERE user_id = @id", new { id = user.Id })).ShouldBe(["prepaid"]);
        (await App.QueryAsync<long>("SELECT count(*) FROM usage_charges WHERE user_id = @id", new { id = user.Id })).ShouldBe(0);
        (await App.PrepaidAsync(user.Id)).ShouldBe(9);
        (await TopUpsAsync(user.Id)).Single().Status.ShouldBe("succeeded");
    }

    [Fact]
    public async Task GenerationWithNoCredit_WhenTheTopUpFails_FailsAsBefore()
    {
        var (user, client) = await CustomerAsync(TestCard.VisaDeclinedAfterAttach, prepaid: 0);
        await TurnOnAsync(client, threshold: 5);

        var response = await App.GenerateAsync(client);

        response.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        (await BillingTestApp.ProblemCodeAsync(response)).ShouldBe("payment_failed");
        (await TopUpsAsync(user.Id)).Single().Status.ShouldBe("failed");
        (await App.PrepaidAsync(user.Id)).ShouldBe(0);
    }

    private async Task<HttpResponseMessage> DeliverAsync(string payload)
    {
        using var client = App.NewClient();
        var header = EventUtility.GenerateSignatureHeader(payload, App.Emulator.WebhookSecret, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task ReplayedSucceededWebhook_AndARerunJob_GrantTheTopUpOnce()
    {
        var (user, client) = await CustomerAsync(prepaid: 10);
        await TurnOnAsync(client);
        await GenerateOkAsync(client);
        await WhenSettledAsync(user.Id, 1);
        var row = (await TopUpsAsync(user.Id)).Single();
        await BillingTestApp.EventuallyAsync(async () => await App.QueryAsync<long>(
            "SELECT count(*) FROM stripe_events WHERE type = 'payment_intent.succeeded' AND status = 'applied' AND payload LIKE '%' || @pi || '%'", new { pi = row.PaymentIntentId }) == 1,
            "the succeeded event applied");
        (await App.PrepaidAsync(user.Id)).ShouldBe(19);

        var payload = await App.QueryAsync<string>("SELECT payload FROM stripe_events WHERE type = 'payment_intent.succeeded' AND payload LIKE '%' || @pi || '%'", new { pi = row.PaymentIntentId });
        (await DeliverAsync(payload)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var renamed = JsonNode.Parse(payload)!;
        renamed["id"] = "evt_replay_" + Guid.NewGuid().ToString("N");
        (await DeliverAsync(renamed.ToJsonString())).StatusCode.ShouldBe(HttpStatusCode.OK);
        await App.ExecuteAsync("DELETE FROM stripe_events WHERE payload LIKE '%' || @pi || '%'", new { pi = row.PaymentIntentId });
        (await DeliverAsync(payload)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await using (var scope = App.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<AutoTopUpCharges>().ChargeAsync(row.Id, CancellationToken.None);

        (await App.PrepaidAsync(user.Id)).ShouldBe(19);
        (await App.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE kind = 'grant' AND reference = @pi", new { pi = row.PaymentIntentId })).ShouldBe(1);
        (await App.QueryAsync<long>("SELECT count(*) FROM payments WHERE stripe_id = @pi", new { pi = row.PaymentIntentId })).ShouldBe(1);
        (await TopUpIntentsAsync(user.Id)).Count.ShouldBe(1);

        // One receipt for the top-up across the replays and the rerun: what it bought, the price, Stripe's receipt link.
        await App.JobsSettledAsync();
        var charged = fixture.Mail.To(user.Email!).Where(m => m.Subject != null && m.Subject.StartsWith("Your GenSaaS auto top-up: ", StringComparison.Ordinal)).ToList();
        charged.Count.ShouldBe(1);
        charged[0].Subject.ShouldBe("Your GenSaaS auto top-up: 10 credits for 4.00 USD");
        var receipt = await App.QueryAsync<string>("SELECT receipt_url FROM payments WHERE stripe_id = @pi", new { pi = row.PaymentIntentId });
        receipt.ShouldNotBeNullOrEmpty();
        charged[0].TextBody!.ShouldContain("Receipt: " + receipt);
        charged[0].HtmlBody!.ShouldContain($"href=\"{receipt}\"");
        fixture.Mail.To(user.Email!).ShouldNotContain(m => m.Subject == AutoTopUpEmailJob.FailedSubject);
    }
}
