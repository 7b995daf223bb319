using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Tests.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Flags;

/// <summary>
/// The <c>auto_top_up</c> flag (and <c>billing</c> dark) over real HTTP with the emulator: while off a crossing buys nothing
/// and the settings are kept, a top-up queued before the flag went off is canceled when its job runs, back on the next
/// crossing tops up once; a rollout to listed accounts tops up only those; the API and the page refuse turning it on.
/// </summary>
public sealed class AutoTopUpFlagTests : IDisposable
{
    private const int Threshold = 10;

    // Flags are global to an app: each test has its own, so no other class sees auto top-up off.
    private readonly List<BillingTestApp> _apps = [];

    public void Dispose()
    {
        foreach (var app in _apps)
            app.Dispose();
    }

    private BillingTestApp NewApp(Dictionary<string, string?>? settings = null)
    {
        var app = new BillingTestApp(settings ?? []);
        _apps.Add(app);
        return app;
    }

    private static async Task<HttpClient> AdminKeyAsync(BillingTestApp app)
    {
        var admin = await app.CreateUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);
        var created = await app.Services.GetRequiredService<ApiKeyStore>().CreateAsync(admin.Id, "flag test", [ApiKeyScopes.Admin], CancellationToken.None);
        var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", created!.Value.Key);
        return client;
    }

    private static async Task SetFlagAsync(HttpClient admin, string flag, bool enabled, int? percentage = null, string[]? accounts = null)
    {
        var body = new Dictionary<string, object?> { ["enabled"] = enabled, ["reason"] = "auto top-up flag test" };
        if (percentage is not null)
            body["percentage"] = percentage;
        if (accounts is not null)
            body["accounts"] = accounts;
        var response = await admin.PutAsJsonAsync($"/api/v1/admin/flags/{flag}", body);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    /// <summary>A signed-in customer with a saved card, <paramref name="prepaid"/> prepaid credits and auto top-up on at a threshold of 10.</summary>
    private static async Task<(IdentityUser User, HttpClient Client)> CustomerAsync(BillingTestApp app, int prepaid, bool turnOn = true)
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use", TestCard.Visa);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT card_last4 FROM billing_customers WHERE user_id = @id", new { id = user.Id }) == TestCard.Visa[^4..], "card saved");
        if (prepaid > 0)
            await app.Services.GetRequiredService<CreditLedger>().GrantAsync(user.Id, CreditBucket.Prepaid, prepaid, "Test credits", $"test:{Guid.NewGuid():N}", "test");
        if (turnOn)
            (await PutAsync(client, new { enabled = true, threshold = Threshold, bundle = "bundle_10", monthlyCapMinor = 2000 })).StatusCode.ShouldBe(HttpStatusCode.OK);
        return (user, client);
    }

    private static Task<HttpResponseMessage> PutAsync(HttpClient client, object body) => client.PutAsJsonAsync(AutoTopUpApi.Path, body);

    private static Task<HttpResponseMessage> PutRawAsync(HttpClient client, string json) =>
        client.PutAsync(AutoTopUpApi.Path, new StringContent(json, Encoding.UTF8, "application/json"));

    private static async Task<JsonElement> AutoTopUpAsync(HttpClient client) =>
        JsonDocument.Parse(await client.GetStringAsync("/api/v1/billing")).RootElement.GetProperty("autoTopUp");

    private sealed record Settings(long Enabled, long Threshold, string PlanKey, long MonthlyCapMinor, long Armed, long FailuresInARow);

    private static Task<Settings> SettingsAsync(BillingTestApp app, string userId) => app.QueryAsync<Settings>(
        "SELECT enabled, threshold, plan_key AS PlanKey, monthly_cap_minor AS MonthlyCapMinor, armed, failures_in_a_row AS FailuresInARow FROM auto_top_up_settings WHERE user_id = @userId",
        new { userId });

    private sealed record TopUpRow(long Id, string Status, string? ErrorCode, string? Error, string? PaymentIntentId);

    private static Task<List<TopUpRow>> TopUpsAsync(BillingTestApp app, string userId) => app.ListAsync<TopUpRow>(
        "SELECT id, status, error_code AS ErrorCode, error, payment_intent_id AS PaymentIntentId FROM auto_top_ups WHERE user_id = @userId ORDER BY id", new { userId });

    private static async Task<List<PaymentIntent>> TopUpIntentsAsync(BillingTestApp app, string userId)
    {
        var customer = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = userId });
        var all = await new PaymentIntentService(app.StripeClient).ListAsync(new PaymentIntentListOptions { Customer = customer, Limit = 100 });
        return all.Data.Where(i => i.Metadata.ContainsKey(AutoTopUpCharges.MetadataKey)).ToList();
    }

    /// <summary>Nothing was bought: no top-up PaymentIntent at the emulator, no bundle payment, no credits granted by auto top-up.</summary>
    private static async Task ShouldHaveBoughtNothingAsync(BillingTestApp app, string userId)
    {
        (await TopUpIntentsAsync(app, userId)).ShouldBeEmpty("the emulator received no top-up PaymentIntent");
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @userId AND kind = 'bundle'", new { userId })).ShouldBe(0);
        (await app.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE user_id = @userId AND kind = 'grant' AND reason LIKE 'Auto top-up%'", new { userId })).ShouldBe(0);
    }

    private static async Task GenerateOkAsync(BillingTestApp app, HttpClient client)
    {
        var response = await app.GenerateAsync(client);
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    private static Task WhenSettledAsync(BillingTestApp app, string userId, int count) => BillingTestApp.EventuallyAsync(async () =>
    {
        var rows = await TopUpsAsync(app, userId);
        return rows.Count == count && rows.All(r => r.Status != "pending");
    }, $"{count} settled top-up(s)");

    [Fact]
    public async Task FlagOff_CrossingsBuyNothing_SettingsKept_PageSaysSo_AndBackOnTheNextCrossingTopsUpOnce()
    {
        var app = NewApp();
        var admin = await AdminKeyAsync(app);
        var (user, client) = await CustomerAsync(app, prepaid: 12);
        var before = await SettingsAsync(app, user.Id);

        await SetFlagAsync(admin, "auto_top_up", enabled: false);
        for (var i = 0; i < 4; i++)
            await GenerateOkAsync(app, client);

        (await app.PrepaidAsync(user.Id)).ShouldBe(8, "two generations below the threshold, neither topped up");
        (await TopUpsAsync(app, user.Id)).ShouldBeEmpty();
        await ShouldHaveBoughtNothingAsync(app, user.Id);
        (await SettingsAsync(app, user.Id)).ShouldBe(before, "the settings are kept, still armed");
        var page = await client.GetStringAsync("/billing");
        page.ShouldContain("data-testid=\"auto-top-up-not-available\"");
        page.ShouldContain("On, paused for now");
        var paused = await AutoTopUpAsync(client);
        paused.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        paused.GetProperty("available").GetBoolean().ShouldBeFalse();

        await SetFlagAsync(admin, "auto_top_up", enabled: true);
        (await client.GetStringAsync("/billing")).ShouldNotContain("data-testid=\"auto-top-up-not-available\"");
        (await AutoTopUpAsync(client)).GetProperty("available").GetBoolean().ShouldBeTrue();
        await GenerateOkAsync(app, client);
        await WhenSettledAsync(app, user.Id, 1);
        for (var i = 0; i < 3; i++)
            await GenerateOkAsync(app, client);

        (await TopUpsAsync(app, user.Id)).ShouldHaveSingleItem().Status.ShouldBe("succeeded", "one top-up, not one per crossing missed while off");
        (await TopUpIntentsAsync(app, user.Id)).ShouldHaveSingleItem().Status.ShouldBe("succeeded");
        (await app.PrepaidAsync(user.Id)).ShouldBe(8 - 1 + 10 - 3);
    }

    [Fact]
    public async Task FlagTurnedOffAfterTheTopUpWasQueued_ItsJobBuysNothing_AndBackOnTheNextCrossingTopsUp()
    {
        var app = NewApp(new() { ["Jobs:RunServer"] = "false", ["Credits:AutoTopUpWaitSeconds"] = "0" });
        var admin = await AdminKeyAsync(app);
        var (user, client) = await CustomerAsync(app, prepaid: 10);
        await GenerateOkAsync(app, client);
        var queued = (await TopUpsAsync(app, user.Id)).ShouldHaveSingleItem();
        queued.Status.ShouldBe("pending", "no job server: the charge waits in the queue");
        (await SettingsAsync(app, user.Id)).Armed.ShouldBe(0);

        await SetFlagAsync(admin, "auto_top_up", enabled: false);
        await using (var scope = app.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<AutoTopUpJob>().RunAsync(queued.Id, CancellationToken.None);

        var skipped = (await TopUpsAsync(app, user.Id)).ShouldHaveSingleItem();
        skipped.Status.ShouldBe("canceled");
        skipped.ErrorCode.ShouldBe("auto_top_up_off");
        skipped.PaymentIntentId.ShouldBeNull();
        await ShouldHaveBoughtNothingAsync(app, user.Id);
        var kept = await SettingsAsync(app, user.Id);
        kept.Enabled.ShouldBe(1);
        kept.Armed.ShouldBe(1, "re-armed, so it resumes when the flag is back on");
        kept.FailuresInARow.ShouldBe(0, "not a failure of the card");
        (await AutoTopUpAsync(client)).GetProperty("last").GetProperty("status").GetString().ShouldBe("canceled");

        // A rerun (Hangfire's retry, the sweep) finds nothing pending; generations while off record nothing.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AutoTopUpJob>().RunAsync(queued.Id, CancellationToken.None);
            await scope.ServiceProvider.GetRequiredService<AutoTopUpCharges>().SweepAsync(CancellationToken.None);
        }
        await GenerateOkAsync(app, client);
        (await TopUpsAsync(app, user.Id)).Count.ShouldBe(1);
        await ShouldHaveBoughtNothingAsync(app, user.Id);

        await SetFlagAsync(admin, "auto_top_up", enabled: true);
        await GenerateOkAsync(app, client);
        var next = (await TopUpsAsync(app, user.Id)).Last();
        next.Id.ShouldNotBe(queued.Id);
        await using (var scope = app.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<AutoTopUpJob>().RunAsync(next.Id, CancellationToken.None);

        (await TopUpsAsync(app, user.Id)).Select(r => r.Status).ShouldBe(["canceled", "succeeded"]);
        (await TopUpIntentsAsync(app, user.Id)).ShouldHaveSingleItem().Status.ShouldBe("succeeded");
        (await app.PrepaidAsync(user.Id)).ShouldBe(10 - 3 + 10);
    }

    [Fact]
    public async Task StalePendingTopUp_WhileTheFlagIsOff_TheSweepCancelsIt()
    {
        var app = NewApp(new() { ["Jobs:RunServer"] = "false", ["Credits:AutoTopUpWaitSeconds"] = "0" });
        var admin = await AdminKeyAsync(app);
        var (user, client) = await CustomerAsync(app, prepaid: 10);
        await GenerateOkAsync(app, client);
        await app.ExecuteAsync("UPDATE auto_top_ups SET updated_at = '2000-01-01 00:00:00' WHERE user_id = @id", new { id = user.Id });

        await SetFlagAsync(admin, "auto_top_up", enabled: false);
        await using (var scope = app.Services.CreateAsyncScope())
            (await scope.ServiceProvider.GetRequiredService<AutoTopUpCharges>().SweepAsync(CancellationToken.None)).ShouldBeGreaterThanOrEqualTo(1);

        (await TopUpsAsync(app, user.Id)).ShouldHaveSingleItem().ErrorCode.ShouldBe("auto_top_up_off");
        await ShouldHaveBoughtNothingAsync(app, user.Id);
    }

    [Fact]
    public async Task RolloutToListedAccounts_OnlyThoseAreToppedUp_TheOthersKeepTheirSettings()
    {
        var app = NewApp();
        var admin = await AdminKeyAsync(app);
        var (listed, listedClient) = await CustomerAsync(app, prepaid: 10);
        var (other, otherClient) = await CustomerAsync(app, prepaid: 10);

        await SetFlagAsync(admin, "auto_top_up", enabled: true, percentage: 0, accounts: [listed.Id]);
        await GenerateOkAsync(app, listedClient);
        await GenerateOkAsync(app, otherClient);
        await WhenSettledAsync(app, listed.Id, 1);

        (await TopUpsAsync(app, listed.Id)).ShouldHaveSingleItem().Status.ShouldBe("succeeded");
        (await app.PrepaidAsync(listed.Id)).ShouldBe(19);
        (await TopUpsAsync(app, other.Id)).ShouldBeEmpty();
        await ShouldHaveBoughtNothingAsync(app, other.Id);
        (await app.PrepaidAsync(other.Id)).ShouldBe(9);
        (await SettingsAsync(app, other.Id)).Armed.ShouldBe(1);
        (await otherClient.GetStringAsync("/billing")).ShouldContain("data-testid=\"auto-top-up-not-available\"");
        (await listedClient.GetStringAsync("/billing")).ShouldNotContain("data-testid=\"auto-top-up-not-available\"");
    }

    [Fact]
    public async Task BillingDark_StopsAutoTopUpToo_RefusesTurningItOn_AndBackOnItTopsUp()
    {
        var app = NewApp();
        var admin = await AdminKeyAsync(app);
        var (user, client) = await CustomerAsync(app, prepaid: 10);

        await SetFlagAsync(admin, "billing", enabled: false);
        await GenerateOkAsync(app, client);
        (await app.PrepaidAsync(user.Id)).ShouldBe(9, "prepaid credits still pay while billing is dark");
        (await TopUpsAsync(app, user.Id)).ShouldBeEmpty();
        await ShouldHaveBoughtNothingAsync(app, user.Id);
        (await client.GetStringAsync("/billing")).ShouldContain("data-testid=\"auto-top-up-not-available\"");

        (await PutAsync(client, new { enabled = false })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var refused = await PutAsync(client, new { enabled = true });
        refused.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("code").GetString().ShouldBe("billing_disabled");
        problem.GetProperty("title").GetString().ShouldBe(PurchaseFlags.BillingOff);
        (await SettingsAsync(app, user.Id)).Enabled.ShouldBe(0);

        await SetFlagAsync(admin, "billing", enabled: true);
        (await PutAsync(client, new { enabled = true })).StatusCode.ShouldBe(HttpStatusCode.OK);
        await GenerateOkAsync(app, client);
        await WhenSettledAsync(app, user.Id, 1);
        (await app.PrepaidAsync(user.Id)).ShouldBe(18);
        (await TopUpIntentsAsync(app, user.Id)).ShouldHaveSingleItem();
    }

    [Fact]
    public async Task WhileOff_TurningOnIsRefusedInTheApiAndOnThePage_TurningOffAndChangingStillWork_BadBodiesAre400_AndADoubleSubmitSavesOnce()
    {
        var app = NewApp();
        var admin = await AdminKeyAsync(app);
        var (user, client) = await CustomerAsync(app, prepaid: 0);
        await SetFlagAsync(admin, "auto_top_up", enabled: false);

        // Already on: changing the cap keeps it on and saves the change.
        var changed = await PutAsync(client, new { enabled = true, monthlyCapMinor = 1200 });
        changed.StatusCode.ShouldBe(HttpStatusCode.OK, await changed.Content.ReadAsStringAsync());
        var answered = await changed.Content.ReadFromJsonAsync<JsonElement>();
        answered.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        answered.GetProperty("available").GetBoolean().ShouldBeFalse();
        (await SettingsAsync(app, user.Id)).MonthlyCapMinor.ShouldBe(1200);

        (await PutAsync(client, new { enabled = false })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var refused = await PutAsync(client, new { enabled = true, threshold = 7 });
        refused.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        refused.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("code").GetString().ShouldBe("billing_disabled");
        problem.GetProperty("title").GetString().ShouldBe(PurchaseFlags.AutoTopUpOff);
        var kept = await SettingsAsync(app, user.Id);
        kept.Enabled.ShouldBe(0);
        kept.Threshold.ShouldBe(Threshold, "nothing was changed");

        // Wrong types are still named as before, flag or not.
        foreach (var (body, field) in new[]
                 {
                     ("""{"enabled": "yes"}""", "enabled"), ("""{"enabled": true, "threshold": "5"}""", "threshold"),
                     ("""{"enabled": false, "monthlyCapMinor": 20.5}""", "monthlyCapMinor"), ("""{"enabled": 1}""", "enabled"), ("""[]""", "body"),
                 })
        {
            var bad = await PutRawAsync(client, body);
            bad.StatusCode.ShouldBe(HttpStatusCode.BadRequest, body);
            (await bad.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue(body);
        }

        // The page: says so, refuses turning it on, saves a change with it off.
        var page = await client.GetStringAsync("/billing");
        page.ShouldContain("data-testid=\"auto-top-up-not-available\"");
        var form = await TestApp.PostFormAsync(client, "/billing?handler=AutoTopUp", new()
        {
            ["AutoTopUpForm.Enabled"] = "true", ["AutoTopUpForm.Threshold"] = "5", ["AutoTopUpForm.Bundle"] = "bundle_10", ["AutoTopUpForm.MonthlyCap"] = "8",
        });
        form.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        var html = await form.Content.ReadAsStringAsync();
        html.ShouldContain("Auto top-up is not available right now");
        html.ShouldContain("cannot be turned on for now");
        (await SettingsAsync(app, user.Id)).ShouldBe(kept);

        // Two tabs (or a double click) posting the same change with the same token: both land on the page, one settings row.
        var token = TestApp.AntiforgeryToken(await client.GetStringAsync("/billing"));
        var fields = new Dictionary<string, string>
        {
            ["AutoTopUpForm.Threshold"] = "6", ["AutoTopUpForm.Bundle"] = "bundle_25", ["AutoTopUpForm.MonthlyCap"] = "18", ["__RequestVerificationToken"] = token,
        };
        var posts = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => client.PostAsync("/billing?handler=AutoTopUp", new FormUrlEncodedContent(fields))));
        posts.ShouldAllBe(p => p.StatusCode == HttpStatusCode.Redirect);
        (await app.QueryAsync<long>("SELECT count(*) FROM auto_top_up_settings WHERE user_id = @id", new { id = user.Id })).ShouldBe(1);
        var saved = await SettingsAsync(app, user.Id);
        (saved.Enabled, saved.Threshold, saved.PlanKey, saved.MonthlyCapMinor).ShouldBe((0L, 6L, "bundle_25", 1800L));
        (await client.GetStringAsync("/billing")).ShouldContain("Auto top-up is off.");

        // Back on: the form turns it on again.
        await SetFlagAsync(admin, "auto_top_up", enabled: true);
        var on = await TestApp.PostFormAsync(client, "/billing?handler=AutoTopUp", new()
        {
            ["AutoTopUpForm.Enabled"] = "true", ["AutoTopUpForm.Threshold"] = "6", ["AutoTopUpForm.Bundle"] = "bundle_25", ["AutoTopUpForm.MonthlyCap"] = "18",
        });
        on.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await SettingsAsync(app, user.Id)).Enabled.ShouldBe(1);
    }
}
