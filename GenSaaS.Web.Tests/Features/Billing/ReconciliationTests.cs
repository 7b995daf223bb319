using System.Net;
using System.Text.Json;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// Reconciliation against the emulator over HTTP: real purchases, a subscription, pay-per-use captures and a refund match
/// to the cent; each discrepancy Stripe has that the app does not (or the reverse) is one line of its kind.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class ReconciliationTests
{
    /// <summary>Stripe's usd card fee, computed here on its own: 2.9 % rounded to the cent, plus 30 cents.</summary>
    private static long UsdCardFee(long amount) => (long)Math.Round(amount * 0.029m, MidpointRounding.AwayFromZero) + 30;

    private static DateOnly Today => DateOnly.FromDateTime(DateTime.UtcNow);

    private static async Task<ReconciliationRun> ReconcileAsync(BillingTestApp app, DateOnly? first = null, DateOnly? last = null)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var runs = scope.ServiceProvider.GetRequiredService<ReconciliationRuns>();
        var id = await runs.QueueAsync(first ?? Today.AddDays(-1), last ?? Today, ReconciliationRuns.Triggers.Cli, "test", CancellationToken.None);
        return (await scope.ServiceProvider.GetRequiredService<Reconciler>().RunAsync(id, CancellationToken.None))!;
    }

    private static async Task<List<ReconciliationLine>> LinesAsync(BillingTestApp app, long runId) =>
        await app.Services.GetRequiredService<ReconciliationRuns>().LinesAsync(runId, CancellationToken.None);

    private static async Task<ReconciliationTotals> UsdTotalsAsync(BillingTestApp app, long runId) =>
        (await app.Services.GetRequiredService<ReconciliationRuns>().TotalsAsync(runId, CancellationToken.None)).Single(t => t.Currency == "usd");

    private static async Task<string> ChargeOfSessionAsync(BillingTestApp app, string sessionId) =>
        (await new PaymentIntentService(app.StripeClient).GetAsync(
            (await new Stripe.Checkout.SessionService(app.StripeClient).GetAsync(sessionId)).PaymentIntentId)).LatestChargeId;

    /// <summary>Two bundles, a subscription, two pay-per-use generations captured, and a partial refund of the first bundle.</summary>
    private static async Task<(string BundleSession, string CustomerId)> MakeMoneyMoveAsync(BillingTestApp app)
    {
        var (buyer, buyerClient) = await app.SignedInUserAsync();
        var bundleSession = await app.BuyAsync(buyerClient, "bundle_10");
        await app.BuyAsync(buyerClient, "bundle_25");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(buyer.Id) == 35, "both bundles granted");

        var (subscriber, subscriberClient) = await app.SignedInUserAsync();
        await app.BuyAsync(subscriberClient, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<long>(
            "SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'subscription_invoice'", new { id = subscriber.Id }) == 1, "the invoice recorded");

        var (payer, payerClient) = await app.SignedInUserAsync();
        await app.BuyAsync(payerClient, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = payer.Id }) is not null, "card saved");
        for (var i = 0; i < 2; i++)
            (await app.GenerateAsync(payerClient, $"a kite {i}")).StatusCode.ShouldBe(HttpStatusCode.Created);
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<long>(
            "SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'capture'", new { id = payer.Id }) == 2, "both generations captured");

        var chargeId = await ChargeOfSessionAsync(app, bundleSession);
        await new RefundService(app.StripeClient).CreateAsync(new RefundCreateOptions { Charge = chargeId, Amount = 200 });
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<long>(
            "SELECT count(*) FROM payments WHERE kind = 'refund' AND charge_id = @chargeId", new { chargeId }) == 1, "the refund recorded");
        var customerId = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = buyer.Id });
        return (bundleSession, customerId);
    }

    [Fact]
    public async Task AfterBundlesASubscriptionCapturesAndARefund_EverythingMatches_ToTheCent_AndEachInjectedDiscrepancyIsOneLine()
    {
        using var app = new BillingTestApp();
        var (bundleSession, customerId) = await MakeMoneyMoveAsync(app);

        var clean = await ReconcileAsync(app);
        clean.Status.ShouldBe("matched", clean.Error);
        clean.Differences.ShouldBe(0);
        clean.Matched.ShouldBe(6); // two bundles, one invoice, two captures, one refund
        (await LinesAsync(app, clean.Id)).ShouldBeEmpty();
        var totals = await UsdTotalsAsync(app, clean.Id);
        long[] charged = [400, 900, 1900, 50, 50];
        totals.GrossMinor.ShouldBe(charged.Sum());
        totals.RefundsMinor.ShouldBe(200);
        totals.FeesMinor.ShouldBe(charged.Sum(UsdCardFee));
        totals.NetMinor.ShouldBe(charged.Sum() - charged.Sum(UsdCardFee) - 200);
        totals.AppRevenueMinor.ShouldBe(charged.Sum() - 200);
        totals.DifferenceMinor.ShouldBe(0);

        // Stripe changes three ways the app never hears of.
        using var dev = app.NewClient();
        var unseen = await dev.PostAsync($"/emulator/dev/discrepancy?kind=charge&customer={customerId}&amount=1500", null);
        unseen.StatusCode.ShouldBe(HttpStatusCode.OK, await unseen.Content.ReadAsStringAsync());
        var unseenCharge = JsonDocument.Parse(await unseen.Content.ReadAsStringAsync()).RootElement.GetProperty("charge").GetString();
        var bundleCharge = await ChargeOfSessionAsync(app, bundleSession);
        var refunded = await dev.PostAsync($"/emulator/dev/discrepancy?kind=refund&charge={bundleCharge}&amount=100", null);
        refunded.StatusCode.ShouldBe(HttpStatusCode.OK, await refunded.Content.ReadAsStringAsync());
        var hiddenRefund = JsonDocument.Parse(await refunded.Content.ReadAsStringAsync()).RootElement.GetProperty("refund").GetString();
        var bigBundle = await app.QueryAsync<string>("SELECT payment_intent_id FROM payments WHERE kind = 'bundle' AND plan_key = 'bundle_25'");
        var bigCharge = (await new PaymentIntentService(app.StripeClient).GetAsync(bigBundle)).LatestChargeId;
        (await dev.PostAsync($"/emulator/dev/discrepancy?kind=amount&charge={bigCharge}&amount=950", null)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var found = await ReconcileAsync(app);
        found.Status.ShouldBe("differences", found.Error);
        found.Differences.ShouldBe(3);
        var lines = await LinesAsync(app, found.Id);
        lines.Single(l => l.StripeId == unseenCharge).ShouldSatisfyAllConditions(
            l => l.Kind.ShouldBe(ReconciliationKinds.MissingHere), l => l.Object.ShouldBe("charge"), l => l.StripeAmountMinor.ShouldBe(1500));
        lines.Single(l => l.StripeId == hiddenRefund).ShouldSatisfyAllConditions(
            l => l.Kind.ShouldBe(ReconciliationKinds.MissingHere), l => l.Object.ShouldBe("refund"), l => l.StripeAmountMinor.ShouldBe(100));
        lines.Single(l => l.StripeId == bigCharge).ShouldSatisfyAllConditions(
            l => l.Kind.ShouldBe(ReconciliationKinds.AmountDiffers), l => l.StripeAmountMinor.ShouldBe(950), l => l.AppAmountMinor.ShouldBe(900));
        lines.ShouldAllBe(l => l.Currency == "usd");
        var after = await UsdTotalsAsync(app, found.Id);
        after.GrossMinor.ShouldBe(charged.Sum() + 1500 + 50);
        after.RefundsMinor.ShouldBe(300);
        after.DifferenceMinor.ShouldBe(1500 + 50 - 100);
    }

    [Fact]
    public async Task AppSideDiscrepancies_AreEachOneLineOfTheirKind()
    {
        // No job server: the pay-per-use hold below must stay open as a crash would leave it.
        using var app = new BillingTestApp(new() { ["Jobs:RunServer"] = "false", ["Billing:Reconciliation:HoldGraceMinutes"] = "1" });
        var (payer, payerClient) = await app.SignedInUserAsync();
        await app.BuyAsync(payerClient, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = payer.Id }) is not null, "card saved");
        (await app.GenerateAsync(payerClient)).StatusCode.ShouldBe(HttpStatusCode.Created);
        var heldUsage = await app.QueryAsync<string>("SELECT usage_id FROM usage_charges WHERE user_id = @id", new { id = payer.Id });
        // The hold's webhook touches the charge row when it lands: let it land before the row is made to look old.
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<long>(
            "SELECT count(*) FROM stripe_events WHERE type = 'payment_intent.amount_capturable_updated' AND status = 'applied' AND instr(payload, @heldUsage) > 0",
            new { heldUsage }) == 1, "the hold's webhook applied");
        (await app.QueryAsync<string?>("SELECT state FROM usage_charges WHERE usage_id = @heldUsage", new { heldUsage })).ShouldBe("authorised");
        await app.ExecuteAsync("UPDATE usage_charges SET updated_at = @old WHERE usage_id = @heldUsage",
            new { heldUsage, old = DateTime.UtcNow.AddMinutes(-5) });

        // Credits granted by the system for a purchase that never was, and a generation that no credit paid for.
        var (other, _) = await app.SignedInUserAsync();
        await app.Services.GetRequiredService<CreditLedger>().GrantAsync(other.Id, CreditBucket.Prepaid, 10, "Bought 10 credits", "cs_test_never_paid",
            CreditLedger.SystemActor, CancellationToken.None);
        var unfunded = "usage_unfunded_" + Guid.NewGuid().ToString("N");
        var now = DateTime.UtcNow;
        await app.ExecuteAsync("""
            INSERT INTO usage (id, user_id, idempotency_key, request_hash, state, funding_source, units, period_key, created_at, updated_at)
            VALUES (@unfunded, @userId, @unfunded, 'h', 'succeeded', 'prepaid', 1, 'month:' || strftime('%Y-%m', 'now'), @now, @now)
            """, new { unfunded, userId = other.Id, now });

        var run = await ReconcileAsync(app);
        run.Status.ShouldBe("differences", run.Error);
        var lines = await LinesAsync(app, run.Id);
        lines.Count.ShouldBe(3, string.Join("; ", lines.Select(l => l.Detail)));
        lines.Single(l => l.Kind == ReconciliationKinds.HoldOpen).AppReference.ShouldBe(heldUsage);
        lines.Single(l => l.Kind == ReconciliationKinds.GrantWithoutPayment).ShouldSatisfyAllConditions(
            l => l.AppReference.ShouldBe("cs_test_never_paid"), l => l.UserId.ShouldBe(other.Id));
        lines.Single(l => l.Kind == ReconciliationKinds.GenerationWithoutFunding).AppReference.ShouldBe(unfunded);

        // Captured at Stripe, canceled here: one state line for that charge, not also an unfunded generation.
        var intent = await app.QueryAsync<string>("SELECT payment_intent_id FROM usage_charges WHERE usage_id = @heldUsage", new { heldUsage });
        await new PaymentIntentService(app.StripeClient).CaptureAsync(intent);
        await app.ExecuteAsync("UPDATE usage_charges SET state = 'canceled' WHERE usage_id = @heldUsage", new { heldUsage });
        var second = await ReconcileAsync(app);
        var secondLines = await LinesAsync(app, second.Id);
        secondLines.Where(l => l.AppReference == heldUsage).ShouldHaveSingleItem().ShouldSatisfyAllConditions(
            l => l.Kind.ShouldBe(ReconciliationKinds.StateDiffers), l => l.StripeState.ShouldBe("captured"), l => l.AppState.ShouldBe("canceled"));
    }

    [Fact]
    public async Task MissedWebhooks_AreCaughtUpFromStripesEventList_Once()
    {
        using var app = new BillingTestApp();
        var (user, client) = await app.SignedInUserAsync();
        await BillingTestApp.ChooseAsync(client, "bundle_10"); // an event or two arrive: the app has seen Stripe

        using var dev = app.NewClient();
        (await dev.PostAsync("/emulator/dev/faults?set=Drop", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var sessionUrl = await BillingTestApp.ChooseAsync(client, "bundle_10");
        (await app.PayAsync(sessionUrl, TestCard.Visa)).Completed.ShouldBeTrue();
        (await dev.PostAsync("/emulator/dev/faults?set=None", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var sessionId = new Uri(sessionUrl).Segments[^1];
        (await app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE payload LIKE '%' || @sessionId || '%'", new { sessionId })).ShouldBe(0);
        (await app.PrepaidAsync(user.Id)).ShouldBe(0);

        var run = await ReconcileAsync(app);
        run.Status.ShouldBe("matched", run.Error);
        run.EventsCaughtUp.ShouldBeGreaterThan(0);
        (await app.PrepaidAsync(user.Id)).ShouldBe(10);
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE kind = 'bundle' AND stripe_id = @sessionId AND status = 'paid'", new { sessionId })).ShouldBe(1);

        var again = await ReconcileAsync(app);
        again.EventsCaughtUp.ShouldBe(0);
        (await app.PrepaidAsync(user.Id)).ShouldBe(10);
        (await app.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE user_id = @id AND kind = 'grant'", new { id = user.Id })).ShouldBe(1);
    }

    [Fact]
    public async Task StripeTimingOut_FailsTheRun_NeverMatched()
    {
        using var app = new BillingTestApp(new()
        {
            ["Billing:Stripe:RequestTimeoutSeconds"] = "1",
            ["Billing:Stripe:MaxNetworkRetries"] = "0",
        });
        using var dev = app.NewClient();
        var faults = await dev.PostAsync("/emulator/dev/api-faults?timeout=100&holdSeconds=3&route=GET%20/charges", null);
        faults.StatusCode.ShouldBe(HttpStatusCode.OK, await faults.Content.ReadAsStringAsync());

        var run = await ReconcileAsync(app);
        run.Status.ShouldBe("failed");
        run.Error.ShouldNotBeNull().ShouldContain("Stripe could not be reached");
        run.Matched.ShouldBe(0);
        (await LinesAsync(app, run.Id)).ShouldBeEmpty();
        (await app.Services.GetRequiredService<ReconciliationRuns>().TotalsAsync(run.Id, CancellationToken.None)).ShouldBeEmpty();
    }

    [Fact]
    public async Task Cli_ExitsZeroWhenMatched_ThreeOnDifferences_AndPrintsJson()
    {
        using var app = new BillingTestApp();
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "bundle granted");
        var environment = new Dictionary<string, string> { ["Billing__EmulatorBaseUrl"] = app.BaseAddress.ToString() };
        var day = Today.ToString("yyyy-MM-dd");

        var matched = await AppCli.RunAsync(app.DataDir, environment, "reconcile", "--from", day, "--to", day);
        matched.ExitCode.ShouldBe(0, matched.Output + matched.Error);
        matched.Output.ShouldContain("matched");

        using var dev = app.NewClient();
        (await dev.PostAsync("/emulator/dev/discrepancy?kind=charge&amount=700", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var differs = await AppCli.RunAsync(app.DataDir, environment, "reconcile", "--from", day, "--to", day, "--json");
        differs.ExitCode.ShouldBe(3, differs.Output + differs.Error);
        var json = JsonDocument.Parse(differs.Output).RootElement; // stdout is the JSON alone; logs go to stderr
        json.GetProperty("status").GetString().ShouldBe("differences");
        json.GetProperty("differences").GetInt32().ShouldBe(1);
        json.GetProperty("lines")[0].GetProperty("kind").GetString().ShouldBe("missing_here");
        json.GetProperty("lines")[0].GetProperty("stripeAmountMinor").GetInt64().ShouldBe(700);
        var usd = json.GetProperty("totals").EnumerateArray().Single(t => t.GetProperty("currency").GetString() == "usd");
        usd.GetProperty("grossMinor").GetInt64().ShouldBe(400 + 700);
        usd.GetProperty("feesMinor").GetInt64().ShouldBe(UsdCardFee(400) + UsdCardFee(700));
        usd.GetProperty("differenceMinor").GetInt64().ShouldBe(700);

        var bad = await AppCli.RunAsync(app.DataDir, environment, "reconcile", "--from", "yesterday", "--to", day);
        bad.ExitCode.ShouldBe(64);
        bad.Error.ShouldContain("YYYY-MM-DD");
        (await app.QueryAsync<long>("SELECT count(*) FROM reconciliation_runs WHERE trigger = 'cli'")).ShouldBe(2);
    }

    [Fact]
    public async Task AdminPage_RunsNow_ShowsTheLinesWithTheCustomer_ExportsCsv_AndIsForAdminsOnly()
    {
        using var app = new BillingTestApp();
        var (_, customer) = await app.SignedInUserAsync();
        (await customer.GetAsync("/admin/reconciliation")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await app.NewClient().GetAsync("/admin/reconciliation")).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        var (buyer, buyerClient) = await app.SignedInUserAsync();
        await app.BuyAsync(buyerClient, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(buyer.Id) == 10, "bundle granted");
        var customerId = await app.QueryAsync<string>("SELECT stripe_customer_id FROM billing_customers WHERE user_id = @id", new { id = buyer.Id });
        using (var dev = app.NewClient())
            (await dev.PostAsync($"/emulator/dev/discrepancy?kind=charge&customer={customerId}&amount=800", null)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var (_, admin) = await app.SignedInUserAsync(admin: true);
        (await admin.GetStringAsync("/admin/reconciliation")).ShouldContain("data-testid=\"no-runs\"");
        (await customer.PostAsync("/admin/reconciliation?handler=Run", new FormUrlEncodedContent(new Dictionary<string, string>()))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        var withoutToken = await admin.PostAsync("/admin/reconciliation?handler=Run", new FormUrlEncodedContent(new Dictionary<string, string> { ["Input.From"] = Today.ToString("yyyy-MM-dd"), ["Input.To"] = Today.ToString("yyyy-MM-dd") }));
        withoutToken.StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        var backwards = await TestApp.PostFormAsync(admin, "/admin/reconciliation?handler=Run", new()
        {
            ["Input.From"] = Today.ToString("yyyy-MM-dd"),
            ["Input.To"] = Today.AddDays(-2).ToString("yyyy-MM-dd"),
        });
        backwards.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await backwards.Content.ReadAsStringAsync()).ShouldContain("must not end before it starts");

        var started = await TestApp.PostFormAsync(admin, "/admin/reconciliation?handler=Run", new()
        {
            ["Input.From"] = Today.ToString("yyyy-MM-dd"),
            ["Input.To"] = Today.ToString("yyyy-MM-dd"),
        });
        started.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var runPage = started.Headers.Location!.ToString();
        runPage.ShouldStartWith("/admin/reconciliation/");
        await BillingTestApp.EventuallyAsync(async () => (await admin.GetStringAsync(runPage)).Contains("data-status=\"differences\""), "the run finished");

        var html = await admin.GetStringAsync(runPage);
        html.ShouldContain("data-kind=\"missing_here\"");
        html.ShouldContain(buyer.Email!);
        html.ShouldContain("8.00 USD");
        var runId = long.Parse(runPage.Split('/')[^1], System.Globalization.CultureInfo.InvariantCulture);
        var csv = await admin.GetAsync($"/admin/reconciliation/{runId}?handler=Csv");
        csv.StatusCode.ShouldBe(HttpStatusCode.OK);
        csv.Content.Headers.ContentType!.MediaType.ShouldBe("text/csv");
        var rows = (await csv.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        rows[0].ShouldStartWith("run,kind,object,currency,stripe_id");
        rows.Length.ShouldBe(2);
        rows[1].ShouldContain("missing_here");
        rows[1].ShouldContain(buyer.Email!);
        (await customer.GetAsync($"/admin/reconciliation/{runId}?handler=Csv")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await admin.GetAsync("/admin/reconciliation/999999")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await admin.GetStringAsync("/admin")).ShouldContain("/admin/reconciliation");
    }
}
