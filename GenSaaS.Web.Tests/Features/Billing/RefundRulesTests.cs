using Dapper;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Tests.Features.Admin;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// The refund rules (<see cref="RefundRecorder"/>), which the webhook and the admin refund share: the share of a bundle's
/// credits a refund takes back, each refund recorded once, the ledger clamped at zero, nothing taken for other payments.
/// Recorded against the app's real database, as the callers do, inside one write transaction.
/// </summary>
public sealed class RefundRulesTests(AdminTestApp app) : IClassFixture<AdminTestApp>
{
    [Theory]
    [InlineData(10, 400, 0, 100, 2)]     // a quarter of 10, rounded down
    [InlineData(10, 400, 100, 300, 8)]   // the rest: 10 in all
    [InlineData(10, 400, 0, 400, 10)]    // in full
    [InlineData(10, 400, 0, 500, 10)]    // never more than the bundle
    [InlineData(10, 400, 400, 100, 0)]   // nothing left to refund
    [InlineData(10, 400, 500, 100, 0)]   // more recorded than the charge: nothing, never a negative share
    [InlineData(10, 400, 399, 1, 1)]     // the last cent takes the last credit
    [InlineData(1, 400, 0, 399, 0)]      // rounded down
    [InlineData(1, 400, 0, 400, 1)]
    [InlineData(0, 400, 0, 400, 0)]      // granted nothing
    [InlineData(-5, 400, 0, 400, 0)]
    [InlineData(10, 0, 0, 400, 0)]       // a free charge: no division by zero
    [InlineData(10, -1, 0, 400, 0)]
    [InlineData(3_000_000_000, 400, 0, 200, 1_500_000_000)] // no overflow in granted × amount for large grants
    public void CreditsToTakeBack_IsTheRefundedShare_RoundedDownCumulatively(long granted, long charge, long before, long refund, int expected) =>
        RefundRecorder.CreditsToTakeBack(granted, charge, before, refund).ShouldBe(expected);

    [Fact]
    public void CreditsToTakeBack_InAnyOrderOfPartialRefunds_AddsUpToTheSameTotal()
    {
        long[] parts = [133, 133, 134];
        int Total(IEnumerable<long> order)
        {
            long before = 0;
            var total = 0;
            foreach (var part in order)
            {
                total += RefundRecorder.CreditsToTakeBack(10, 400, before, part);
                before += part;
            }
            return total;
        }
        Total(parts).ShouldBe(10);
        Total(parts.Reverse()).ShouldBe(10);
        RefundRecorder.CreditsToTakeBack(10, 400, 0, 133).ShouldBe(3);
        RefundRecorder.CreditsToTakeBack(10, 400, 133, 133).ShouldBe(3);
        RefundRecorder.CreditsToTakeBack(10, 400, 266, 134).ShouldBe(4);
    }

    private sealed record Bundle(string UserId, string PaymentIntentId, string ChargeId);

    /// <summary>A customer with a paid bundle of 10 credits for 400 recorded (payment row and grant), as a purchase leaves it.</summary>
    private async Task<Bundle> BundleAsync(string kind = "bundle", int credits = 10)
    {
        var user = await app.CreateUserAsync($"rules-{Guid.NewGuid():N}@example.com");
        var intent = "pi_rules_" + Guid.NewGuid().ToString("N");
        var charge = "ch_rules_" + Guid.NewGuid().ToString("N");
        var ledger = app.Services.GetRequiredService<CreditLedger>();
        var payments = app.Services.GetRequiredService<Payments>();
        if (kind == "bundle")
        {
            var grant = credits > 0 ? await ledger.GrantAsync(user.Id, CreditBucket.Prepaid, credits, "Bought 10 credits", intent, CreditLedger.SystemActor) : null;
            await payments.RecordAsync(Payment.AutoTopUp(user.Id, intent, charge, "bundle_10", 400, "usd", "paid", credits, grant?.EntryId), CancellationToken.None);
        }
        else
        {
            // A pay-per-use capture as recorded (its usage row is beside the point here).
            await using var connection = await app.Db.OpenAsync();
            await connection.ExecuteAsync("""
                INSERT INTO payments (user_id, kind, stripe_id, payment_intent_id, charge_id, plan_key, amount_minor, currency, status, created_at, updated_at)
                VALUES (@userId, 'capture', @intent, @intent, @charge, 'pay_per_use', 400, 'usd', 'succeeded', '2026-01-01 00:00:00', '2026-01-01 00:00:00')
                """, new { userId = user.Id, intent, charge });
        }
        return new Bundle(user.Id, intent, charge);
    }

    private static RefundFacts Refund(Bundle b, long amount, string? id = null) =>
        new(id ?? "re_rules_" + Guid.NewGuid().ToString("N"), b.ChargeId, b.PaymentIntentId, amount, "usd", "succeeded", 400, "https://pay.stripe.com/receipts/x");

    private Task<RecordedRefund> RecordAsync(RefundFacts refund, string? userId, bool withFunding = true) =>
        app.Db.WriteAsync((connection, tx) =>
        {
            var recorder = app.Services.GetRequiredService<RefundRecorder>();
            var funding = withFunding ? RefundRecorder.Funding(connection, tx, refund.PaymentIntentId!) : null;
            return recorder.Record(connection, tx, refund, funding, userId);
        });

    private async Task<(long Amount, long? Credits, long? Entry, string? ChargeId, string? Intent, string? Plan, string? Receipt, string Status, string? User)> RowAsync(string refundId)
    {
        await using var connection = await app.Db.OpenAsync();
        return await connection.QuerySingleAsync<(long, long?, long?, string?, string?, string?, string?, string, string?)>(
            "SELECT amount_minor, credits, ledger_entry_id, charge_id, payment_intent_id, plan_key, receipt_url, status, user_id FROM payments WHERE kind = 'refund' AND stripe_id = @refundId",
            new { refundId });
    }

    [Fact]
    public async Task Record_TakesBackTheShare_Once_AndASecondRefundTakesTheRest()
    {
        var bundle = await BundleAsync();
        var first = Refund(bundle, 100);
        var recorded = await RecordAsync(first, bundle.UserId);
        recorded.Applied.ShouldBeTrue();
        recorded.Credits.ShouldBe(2);
        recorded.Taken.ShouldBe(2);
        recorded.LedgerEntryId.ShouldNotBeNull();
        (await app.BalanceAsync(bundle.UserId)).Prepaid.ShouldBe(8);
        var row = await RowAsync(first.RefundId);
        row.Amount.ShouldBe(100);
        row.Credits.ShouldBe(2);
        row.Entry.ShouldBe(recorded.LedgerEntryId);
        row.ChargeId.ShouldBe(bundle.ChargeId);
        row.Intent.ShouldBe(bundle.PaymentIntentId);
        row.Plan.ShouldBe("bundle_10");
        row.Receipt.ShouldBe("https://pay.stripe.com/receipts/x");
        row.Status.ShouldBe("succeeded");
        row.User.ShouldBe(bundle.UserId);
        (await app.ScalarAsync("SELECT id FROM payments WHERE kind = 'refund' AND stripe_id = @RefundId", first)).ShouldBe(recorded.PaymentRowId);
        (await app.ScalarAsync("SELECT amount FROM credit_ledger WHERE id = @id AND kind = 'refund_reversal' AND reference = @RefundId AND actor = 'system' AND reason = @reason",
            new { id = recorded.LedgerEntryId, first.RefundId, reason = $"Refund {first.RefundId} of bundle_10" })).ShouldBe(-2);

        // The same refund again (the webhook after an admin's refund, a replayed event): nothing more.
        var again = await RecordAsync(first, bundle.UserId);
        again.ShouldBe(new RecordedRefund(false, recorded.PaymentRowId, 2, recorded.LedgerEntryId, 0));
        (await app.BalanceAsync(bundle.UserId)).Prepaid.ShouldBe(8);
        (await app.ScalarAsync("SELECT count(*) FROM payments WHERE kind = 'refund' AND charge_id = @ChargeId", bundle)).ShouldBe(1);

        var rest = await RecordAsync(Refund(bundle, 300), bundle.UserId);
        rest.Credits.ShouldBe(8);
        rest.Taken.ShouldBe(8);
        (await app.BalanceAsync(bundle.UserId)).Prepaid.ShouldBe(0);
    }

    [Fact]
    public async Task Record_NeverTakesBelowZero_ButRecordsTheFullShare()
    {
        var bundle = await BundleAsync();
        await app.Services.GetRequiredService<CreditLedger>().AdjustAsync(bundle.UserId, CreditBucket.Prepaid, -7, "spent", null, "test");
        var refund = Refund(bundle, 400);
        var recorded = await RecordAsync(refund, bundle.UserId);
        recorded.Credits.ShouldBe(10);
        recorded.Taken.ShouldBe(3);
        (await app.BalanceAsync(bundle.UserId)).Prepaid.ShouldBe(0);
        (await RowAsync(refund.RefundId)).Credits.ShouldBe(10);
    }

    [Fact]
    public async Task Record_WhenNothingIsLeftToTake_RecordsTheRefundWithoutALedgerLine()
    {
        var bundle = await BundleAsync();
        await app.Services.GetRequiredService<CreditLedger>().AdjustAsync(bundle.UserId, CreditBucket.Prepaid, -10, "spent", null, "test");
        var refund = Refund(bundle, 400);
        var recorded = await RecordAsync(refund, bundle.UserId);
        recorded.Credits.ShouldBe(10);
        recorded.Taken.ShouldBe(0);
        recorded.LedgerEntryId.ShouldBeNull();
        (await RowAsync(refund.RefundId)).Entry.ShouldBeNull();
    }

    [Fact]
    public async Task Record_OfAPayPerUseCapture_OrWithoutACustomerOrGrant_TakesNothing()
    {
        var capture = await BundleAsync(kind: "capture");
        var refund = Refund(capture, 400);
        var recorded = await RecordAsync(refund, capture.UserId);
        recorded.Applied.ShouldBeTrue();
        recorded.Credits.ShouldBeNull();
        recorded.LedgerEntryId.ShouldBeNull();
        var row = await RowAsync(refund.RefundId);
        row.Amount.ShouldBe(400);
        row.Credits.ShouldBeNull();
        row.Plan.ShouldBe("pay_per_use");

        var bundle = await BundleAsync();
        (await RecordAsync(Refund(bundle, 100), userId: null)).Credits.ShouldBeNull();
        (await RecordAsync(Refund(bundle, 100), bundle.UserId, withFunding: false)).Credits.ShouldBeNull();
        (await app.BalanceAsync(bundle.UserId)).Prepaid.ShouldBe(10);

        var free = await BundleAsync(credits: 0);
        (await RecordAsync(Refund(free, 100), free.UserId)).Credits.ShouldBeNull();
        var zeroCharge = Refund(bundle, 0) with { ChargeAmount = 0 };
        (await RecordAsync(zeroCharge, bundle.UserId)).Credits.ShouldBeNull();
        (await app.BalanceAsync(bundle.UserId)).Prepaid.ShouldBe(10);
    }

    [Fact]
    public async Task Record_OfARefundWhoseShareRoundsDownToNothing_TakesNothing_AndWritesNoLedgerLine()
    {
        // One cent of 4.00 is a fortieth of 10 credits: rounded down, nothing to take back yet.
        var bundle = await BundleAsync();
        var cent = Refund(bundle, 1);
        var recorded = await RecordAsync(cent, bundle.UserId);
        recorded.ShouldBe(new RecordedRefund(true, recorded.PaymentRowId, 0, null, 0));
        (await RowAsync(cent.RefundId)).Credits.ShouldBe(0);
        (await app.ScalarAsync("SELECT count(*) FROM credit_ledger WHERE user_id = @UserId AND kind = 'refund_reversal'", bundle)).ShouldBe(0);
        (await app.BalanceAsync(bundle.UserId)).Prepaid.ShouldBe(10);

        // The rest takes all 10: the cent counts towards the total.
        (await RecordAsync(Refund(bundle, 399), bundle.UserId)).Taken.ShouldBe(10);
    }

    /// <summary>The app's log, as an operator reads it.</summary>
    private string Logs() => app.ReadLogs();

    private List<string> LogLines(string refundId) => Logs().Split('\n').Where(l => l.Contains(refundId, StringComparison.Ordinal)).ToList();

    private async Task<RecordedRefund> RecordAndLogAsync(RefundFacts refund, string? userId)
    {
        var recorded = await RecordAsync(refund, userId);
        app.Services.GetRequiredService<RefundRecorder>().Log(refund, recorded, userId);
        return recorded;
    }

    [Fact]
    public async Task Log_NamesWhatWasTakenBack_OnceForTheRefund_AndNothingWhenNothingWasTaken()
    {
        var bundle = await BundleAsync();
        var first = Refund(bundle, 100);
        await RecordAndLogAsync(first, bundle.UserId);
        var lines = LogLines(first.RefundId);
        lines.Count.ShouldBe(2, string.Join('\n', lines));
        lines.ShouldContain(l => l.Contains($"Credits refund_reversal -2 prepaid for {bundle.UserId} by system: Refund {first.RefundId} ({first.RefundId})", StringComparison.Ordinal));
        lines.ShouldContain(l => l.Contains($"Refund {first.RefundId} took back 2 of 2 credits from {bundle.UserId}", StringComparison.Ordinal));

        // The same refund again (the webhook after the admin's refund) was not applied: nothing more in the log.
        await RecordAndLogAsync(first, bundle.UserId);
        LogLines(first.RefundId).Count.ShouldBe(2);

        // A share clamped at the balance logs what was really taken, beside the share.
        await app.Services.GetRequiredService<CreditLedger>().AdjustAsync(bundle.UserId, CreditBucket.Prepaid, -7, "spent", null, "test");
        var rest = Refund(bundle, 300);
        await RecordAndLogAsync(rest, bundle.UserId);
        LogLines(rest.RefundId).ShouldContain(l => l.Contains($"Credits refund_reversal -1 prepaid for {bundle.UserId}", StringComparison.Ordinal));
        LogLines(rest.RefundId).ShouldContain(l => l.Contains($"Refund {rest.RefundId} took back 1 of 8 credits from {bundle.UserId}", StringComparison.Ordinal));

        // No share (a cent), no credits (a capture), no customer: no credit line in the log.
        var other = await BundleAsync();
        var cent = Refund(other, 1);
        await RecordAndLogAsync(cent, other.UserId);
        LogLines(cent.RefundId).ShouldBeEmpty();
        var capture = await BundleAsync(kind: "capture");
        var captureRefund = Refund(capture, 400);
        await RecordAndLogAsync(captureRefund, capture.UserId);
        LogLines(captureRefund.RefundId).ShouldBeEmpty();
        var anonymous = Refund(other, 200);
        await RecordAndLogAsync(anonymous, userId: null);
        LogLines(anonymous.RefundId).ShouldBeEmpty();
    }
}
