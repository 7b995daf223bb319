using System.Net;
using System.Text.RegularExpressions;
using Dapper;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Tests.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Stripe;
using static GenSaaS.Web.Tests.Features.Dashboard.DashboardKit;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>
/// <c>/admin/jobs</c> against the emulator: a failed capture retried, a hold released, a failed renewal shown; each action
/// reviewed with a reason, confirmed, done once under a double submit, audited once, and a Stripe failure changes nothing
/// and says so. The background jobs are off, so only the admin moves the holds.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class JobsTests
{
    private static BillingTestApp NewApp() => new(new() { ["Jobs:RunServer"] = "false", ["Billing:Stripe:MaxNetworkRetries"] = "0" });

    /// <summary>A pay-per-use generation whose hold is authorised (the capture job does not run here).</summary>
    private static async Task<(string UserId, string UsageId, string PaymentIntentId)> HeldAsync(BillingTestApp app)
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id }) is not null, "card saved");
        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        var (usageId, intentId) = await app.QueryAsync<(string, string)>(
            "SELECT usage_id, payment_intent_id FROM usage_charges WHERE user_id = @id AND state = 'authorised'", new { id = user.Id });
        usageId.ShouldNotBeNull();
        return (user.Id, usageId, intentId);
    }

    /// <summary>A hold whose capture Stripe did not answer (a 500 on the capture), as the failed-captures list shows it.</summary>
    private static async Task<(string UserId, string UsageId, string PaymentIntentId)> FailedCaptureAsync(BillingTestApp app)
    {
        var held = await HeldAsync(app);
        app.Emulator.SetApiFaults(new ApiFaults { ServerErrorPercent = 100, Route = "POST /payment_intents/pi_" });
        await using (var scope = app.Services.CreateAsyncScope())
            (await scope.ServiceProvider.GetRequiredService<PayPerUse>().CaptureAsync(held.UsageId, CancellationToken.None)).Changed.ShouldBeFalse();
        app.Emulator.SetApiFaults(new ApiFaults());
        (await app.QueryAsync<string?>("SELECT error FROM usage_charges WHERE usage_id = @u", new { u = held.UsageId })).ShouldNotBeNull();
        return held;
    }

    private static Task<HttpResponseMessage> ReviewAsync(HttpClient admin, string action, string usageId, string reason) =>
        TestApp.PostFormAsync(admin, "/admin/jobs?handler=Review", new() { ["Action"] = action, ["UsageId"] = usageId, ["Reason"] = reason });

    /// <summary>Shows the confirmation for the action and returns the Confirm form's fields with its token.</summary>
    private static async Task<Dictionary<string, string>> ConfirmationAsync(HttpClient admin, string action, string usageId, string reason)
    {
        var review = await ReviewAsync(admin, action, usageId, reason);
        var html = await review.Content.ReadAsStringAsync();
        review.StatusCode.ShouldBe(HttpStatusCode.OK, html);
        html.ShouldContain("data-testid=\"job-confirmation-text\"");
        var form = Regex.Match(html, "<form[^>]*handler=Confirm[^>]*>[\\s\\S]*?</form>").Value;
        form.ShouldNotBeEmpty();
        return new Dictionary<string, string>
        {
            ["Action"] = action,
            ["UsageId"] = usageId,
            ["Reason"] = WebUtility.HtmlDecode(Regex.Match(form, "name=\"Reason\" value=\"([^\"]*)\"").Groups[1].Value),
            ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(form),
        };
    }

    private static async Task<string> ConfirmAsync(HttpClient admin, Dictionary<string, string> form)
    {
        var posted = await admin.PostAsync("/admin/jobs?handler=Confirm", new FormUrlEncodedContent(form));
        posted.StatusCode.ShouldBe(HttpStatusCode.Redirect, await posted.Content.ReadAsStringAsync());
        var page = await admin.GetStringAsync("/admin/jobs");
        return TextOf(page, "status-message") ?? "";
    }

    [Fact]
    public async Task FailedCapture_RetriedFromTwoTabs_IsCapturedOnce_AndAuditedOnce()
    {
        using var app = NewApp();
        var (userId, usageId, intentId) = await FailedCaptureAsync(app);
        var (admin, tab1) = await app.SignedInUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);
        var tab2 = await app.SignInAsync(admin.Email!);

        var page = await tab1.GetStringAsync("/admin/jobs");
        Regex.Match(page, "<table class=\"table\" data-testid=\"failed-captures\">[\\s\\S]*?</table>").Value.ShouldContain($"data-usage-id=\"{usageId}\"");
        page.ShouldContain($"data-testid=\"capture-{usageId}\"");
        page.ShouldContain("data-testid=\"stripe-link-none\"", customMessage: "emulator mode: no Stripe dashboard page");

        var first = await ConfirmationAsync(tab1, "capture", usageId, "customer asked, card fine now");
        var second = await ConfirmationAsync(tab2, "capture", usageId, "customer asked, card fine now");
        var messages = await Task.WhenAll(ConfirmAsync(tab1, first), ConfirmAsync(tab2, second));

        messages.Count(m => m.StartsWith("Hold ", StringComparison.Ordinal) && m.Contains(" captured (")).ShouldBe(1, string.Join(" | ", messages));
        messages.Count(m => m.StartsWith("Nothing to do", StringComparison.Ordinal)).ShouldBe(1, string.Join(" | ", messages));
        (await app.QueryAsync<string>("SELECT state FROM usage_charges WHERE usage_id = @usageId", new { usageId })).ShouldBe("captured");
        (await new PaymentIntentService(app.StripeClient).GetAsync(intentId)).Status.ShouldBe("succeeded");
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE kind = 'capture' AND user_id = @userId", new { userId })).ShouldBe(1);

        await using var connection = await app.Db.OpenAsync();
        var entries = (await connection.QueryAsync<(string Actor, string Action, string Target, string Reason, string After)>(
            "SELECT actor, action, target, reason, after_json FROM audit_log")).AsList();
        entries.Count.ShouldBe(1);
        entries[0].ShouldBe((admin.Id, "hold.capture", usageId, "customer asked, card fine now", entries[0].After));
        entries[0].After.ShouldContain("\"state\":\"captured\"");
        (await tab1.GetStringAsync("/admin/jobs")).ShouldContain("data-testid=\"failed-captures-empty\"");
    }

    [Fact]
    public async Task Capture_WhenStripeFails_ChangesNothing_SaysSo_AndAuditsNothing_ThenWorksOnceStripeAnswers()
    {
        using var app = NewApp();
        var (_, usageId, intentId) = await FailedCaptureAsync(app);
        var (_, admin) = await app.SignedInUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);

        var form = await ConfirmationAsync(admin, "capture", usageId, "retry after outage");
        app.Emulator.SetApiFaults(new ApiFaults { ServerErrorPercent = 100, Route = "POST /payment_intents/pi_" });
        var message = await ConfirmAsync(admin, form);
        message.ShouldStartWith("Nothing changed: the hold of usage");
        message.ShouldContain("still authorised");
        (await app.QueryAsync<string>("SELECT state FROM usage_charges WHERE usage_id = @usageId", new { usageId })).ShouldBe("authorised");
        (await new PaymentIntentService(app.StripeClient).GetAsync(intentId)).Status.ShouldBe("requires_capture");
        (await app.QueryAsync<long>("SELECT count(*) FROM audit_log")).ShouldBe(0);

        app.Emulator.SetApiFaults(new ApiFaults());
        (await ConfirmAsync(admin, await ConfirmationAsync(admin, "capture", usageId, "retry after outage"))).ShouldStartWith("Hold ");
        (await app.QueryAsync<long>("SELECT count(*) FROM audit_log WHERE action = 'hold.capture'")).ShouldBe(1);
    }

    [Fact]
    public async Task HoldNearExpiry_ReleasedTwice_IsCanceledAtStripeOnce_AuditedOnce_AndAStripeFailureFirstChangesNothing()
    {
        using var app = NewApp();
        var (userId, usageId, intentId) = await HeldAsync(app);
        // Its deadline is two hours away (Stripe's is days away for a new hold; the watchdog is not running here).
        await app.ExecuteAsync("UPDATE usage_charges SET capture_before = @before WHERE usage_id = @usageId",
            new { before = DateTime.UtcNow.AddHours(2), usageId });
        var (admin, client) = await app.SignedInUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);

        var page = await client.GetStringAsync("/admin/jobs");
        Regex.Match(page, "<table class=\"table\" data-testid=\"holds-near-expiry\">[\\s\\S]*?</table>").Value.ShouldContain($"data-usage-id=\"{usageId}\"");
        page.ShouldContain($"data-testid=\"release-{usageId}\"");
        (await client.GetStringAsync("/admin")).ShouldContain("data-testid=\"holds-near-expiry\">1<");

        // No reason: refused before anything is shown to confirm.
        var blank = await ReviewAsync(client, "release", usageId, "  ");
        var blankHtml = await blank.Content.ReadAsStringAsync();
        blankHtml.ShouldContain("Say why");
        blankHtml.ShouldNotContain("data-testid=\"job-confirmation-text\"");
        var noReason = await ConfirmationAsync(client, "release", usageId, "x");
        noReason["Reason"] = "";
        (await client.PostAsync("/admin/jobs?handler=Confirm", new FormUrlEncodedContent(noReason))).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Stripe fails the cancel: nothing changes, the page says so.
        var form = await ConfirmationAsync(client, "release", usageId, "generation was broken, do not charge");
        app.Emulator.SetApiFaults(new ApiFaults { ServerErrorPercent = 100, Route = "POST /payment_intents/pi_" });
        (await ConfirmAsync(client, form)).ShouldContain("Nothing changed: the hold of usage");
        (await app.QueryAsync<string>("SELECT state FROM usage_charges WHERE usage_id = @usageId", new { usageId })).ShouldBe("authorised");
        (await new PaymentIntentService(app.StripeClient).GetAsync(intentId)).Status.ShouldBe("requires_capture");
        (await app.QueryAsync<long>("SELECT count(*) FROM audit_log")).ShouldBe(0);

        // Stripe answers again: the same confirmation, sent twice (a double click), releases once.
        app.Emulator.SetApiFaults(new ApiFaults());
        var messages = new[] { await ConfirmAsync(client, form), await ConfirmAsync(client, form) };
        messages[0].ShouldStartWith("Hold ");
        messages[0].ShouldContain(" released (0.50 USD)");
        messages[1].ShouldStartWith("Nothing to do");
        (await new PaymentIntentService(app.StripeClient).GetAsync(intentId)).Status.ShouldBe("canceled");
        (await app.QueryAsync<string>("SELECT state FROM usage_charges WHERE usage_id = @usageId", new { usageId })).ShouldBe("canceled");
        (await app.QueryAsync<string>("SELECT status FROM payments WHERE kind = 'authorisation' AND user_id = @userId", new { userId })).ShouldBe("canceled");
        var audit = await app.ListAsync<(string Action, string Actor, string Target)>("SELECT action, actor, target FROM audit_log");
        audit.ShouldBe([("hold.release", admin.Id, usageId)]);
    }

    [Fact]
    public async Task FailedRenewal_IsListed_WithoutAnAction_AndOverviewLinksToIt()
    {
        using var app = NewApp();
        var customer = await app.CreateUserAsync($"renewal-{Guid.NewGuid():N}@example.com");
        await app.ExecuteAsync("""
            INSERT INTO subscriptions (stripe_subscription_id, user_id, plan_key, status, current_period_end, updated_at)
            VALUES ('sub_pastdue1', @id, 'subscription_unlimited', 'past_due', '2026-12-31 00:00:00.0000000', '2026-12-01 00:00:00.0000000')
            """, new { id = customer.Id });
        var (_, admin) = await app.SignedInUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);

        var jobs = await admin.GetStringAsync("/admin/jobs");
        jobs.ShouldContain("data-subscription-id=\"sub_pastdue1\" data-status=\"past_due\"");
        var overview = await admin.GetStringAsync("/admin");
        TextOf(overview, "past-due-subscriptions").ShouldBe("1");
        overview.ShouldContain("<a href=\"/admin/jobs#failed-renewals\"><strong data-testid=\"past-due-subscriptions\">");
    }

    [Fact]
    public async Task ACustomer_CannotSeeOrActOnJobs()
    {
        using var app = NewApp();
        var (_, usageId, _) = await HeldAsync(app);
        var (_, customer) = await app.SignedInUserAsync();
        (await customer.GetAsync("/admin/jobs")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await customer.PostAsync("/admin/jobs?handler=Confirm", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Action"] = "release", ["UsageId"] = usageId, ["Reason"] = "hostile",
        }))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await app.QueryAsync<string>("SELECT state FROM usage_charges WHERE usage_id = @usageId", new { usageId })).ShouldBe("authorised");
    }
}

/// <summary>The Stripe Dashboard link of each kind of object, in test and live mode, and none in Emulator mode.</summary>
public sealed class StripeDashboardLinkTests
{
    [Theory]
    [InlineData("sk_test_abc", "pi_123", "https://dashboard.stripe.com/test/payments/pi_123")]
    [InlineData("sk_live_abc", "pi_123", "https://dashboard.stripe.com/payments/pi_123")]
    [InlineData("rk_test_abc", "sub_9", "https://dashboard.stripe.com/test/subscriptions/sub_9")]
    [InlineData("sk_live_abc", "in_1", "https://dashboard.stripe.com/invoices/in_1")]
    [InlineData("sk_live_abc", "cus_1", "https://dashboard.stripe.com/customers/cus_1")]
    [InlineData("sk_live_abc", "evt_1", "https://dashboard.stripe.com/events/evt_1")]
    [InlineData("sk_live_abc", "zz_1", null)]
    [InlineData("sk_live_abc", null, null)]
    public void DashboardUrl_InStripeMode(string key, string? id, string? expected) =>
        new BillingModeInfo(BillingMode.Stripe, false, key, "whsec_x").DashboardUrl(id).ShouldBe(expected);

    [Fact]
    public void DashboardUrl_InEmulatorMode_IsNone() =>
        new BillingModeInfo(BillingMode.Emulator, false, "sk_test_emulated", "whsec_x").DashboardUrl("pi_123").ShouldBeNull();
}
