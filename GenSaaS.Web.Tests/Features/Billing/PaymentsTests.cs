using GenSaaS.Web.Features.Plans;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>The payments recorder on a migrated database of its own: what each kind writes, and that a second delivery changes nothing it should not.</summary>
public sealed class PaymentsTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gensaas-tests", Guid.NewGuid().ToString("N"));
    private Db _db = null!;
    private Payments _payments = null!;
    private const string UserId = "user-1";
    private const string UsageId = "usage-1";

    public async Task InitializeAsync()
    {
        _db = new Db(new AppPaths(_dir));
        Migrator.Migrate(_db, NullLogger.Instance);
        _payments = new Payments(_db, TimeProvider.System);
        await using var connection = await _db.OpenAsync();
        await connection.ExecuteAsync("""
            INSERT INTO AspNetUsers (Id, UserName, NormalizedUserName, Email, NormalizedEmail, EmailConfirmed, PhoneNumberConfirmed, TwoFactorEnabled, LockoutEnabled, AccessFailedCount)
            VALUES (@UserId, 'payer@example.com', 'PAYER@EXAMPLE.COM', 'payer@example.com', 'PAYER@EXAMPLE.COM', 1, 0, 0, 0, 0);
            INSERT INTO usage (id, user_id, idempotency_key, request_hash, state, funding_source, units, period_key, created_at, updated_at)
            VALUES (@UsageId, @UserId, 'key-1', 'hash', 'succeeded', 'pay_per_use', 1, 'month:2026-12', '2026-12-01', '2026-12-01');
            INSERT INTO credit_ledger (id, user_id, bucket, kind, amount, balance_after, reason, reference, actor, created_at)
            VALUES (7, @UserId, 'prepaid', 'grant', 10, 10, 'Bought 10', 'cs_1', 'system', '2026-12-01');
            """, new { UserId, UsageId });
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private sealed record Row(
        string? UserId, string Kind, string StripeId, string? PaymentIntentId, string? ChargeId, string? PlanKey, long AmountMinor, string Currency,
        string Status, long? Credits, long? LedgerEntryId, string? UsageId, string? SubscriptionId);

    private async Task<List<Row>> RowsAsync()
    {
        await using var connection = await _db.OpenAsync();
        return (await connection.QueryAsync<Row>("""
            SELECT user_id AS UserId, kind, stripe_id AS StripeId, payment_intent_id AS PaymentIntentId, charge_id AS ChargeId, plan_key AS PlanKey,
                   amount_minor AS AmountMinor, currency, status, credits, ledger_entry_id AS LedgerEntryId, usage_id AS UsageId, subscription_id AS SubscriptionId
            FROM payments ORDER BY id
            """)).ToList();
    }

    public static TheoryData<string, Payment, object> EachKind() => new()
    {
        { "paid bundle", Payment.PaidBundle(UserId, "cs_1", "pi_1", "bundle_10", 900, "usd", 10, 7),
            new Row(UserId, "bundle", "cs_1", "pi_1", null, "bundle_10", 900, "usd", "paid", 10, 7, null, null) },
        { "unpaid bundle", Payment.UnpaidBundle(UserId, "cs_2", null, "bundle_25", 2000, "eur", "unpaid"),
            new Row(UserId, "bundle", "cs_2", null, null, "bundle_25", 2000, "eur", "unpaid", null, null, null, null) },
        { "subscription invoice", Payment.SubscriptionInvoice(UserId, "in_1", "sub_1", 1900, "usd"),
            new Row(UserId, "subscription_invoice", "in_1", null, null, PlanCatalog.SubscriptionUnlimited, 1900, "usd", "paid", null, null, null, "sub_1") },
        { "authorisation", Payment.Authorisation(UserId, "pi_2", "ch_2", 50, "usd", UsageId),
            new Row(UserId, "authorisation", "pi_2", "pi_2", "ch_2", PlanCatalog.PayPerUse, 50, "usd", "authorised", null, null, UsageId, null) },
        { "capture", Payment.Capture(null, "pi_3", null, 50, "usd", UsageId),
            new Row(null, "capture", "pi_3", "pi_3", null, PlanCatalog.PayPerUse, 50, "usd", "succeeded", null, null, UsageId, null) },
        { "refund", Payment.Refund(UserId, "re_1", "pi_1", "ch_1", "bundle_10", 450, "usd", "succeeded", 5, null),
            new Row(UserId, "refund", "re_1", "pi_1", "ch_1", "bundle_10", 450, "usd", "succeeded", 5, null, null, null) },
    };

    [Theory]
    [MemberData(nameof(EachKind))]
    public async Task Record_WritesTheRowOfItsKind(string kind, Payment payment, object expected)
    {
        await _payments.RecordAsync(payment, CancellationToken.None);

        (await RowsAsync()).ShouldHaveSingleItem().ShouldBe((Row)expected, kind);
    }

    [Fact]
    public async Task RecordingTwice_KeepsOneRow_AndAPaidRowStaysPaid()
    {
        await _payments.RecordAsync(Payment.PaidBundle(UserId, "cs_1", "pi_1", "bundle_10", 900, "usd", 10, 7), CancellationToken.None);
        await _payments.RecordAsync(Payment.PaidBundle(UserId, "cs_1", "pi_1", "bundle_10", 900, "usd", 10, 7), CancellationToken.None);
        await _payments.RecordAsync(Payment.UnpaidBundle(UserId, "cs_1", null, "bundle_10", 900, "usd", "failed"), CancellationToken.None);

        var row = (await RowsAsync()).ShouldHaveSingleItem();
        row.Status.ShouldBe("paid");
        row.PaymentIntentId.ShouldBe("pi_1");
        row.Credits.ShouldBe(10);
        row.LedgerEntryId.ShouldBe(7);
    }

    [Fact]
    public async Task RecordingAgain_FillsWhatWasMissing_AndMovesAnUnpaidRowOn()
    {
        await _payments.RecordAsync(Payment.UnpaidBundle(UserId, "cs_1", null, "bundle_10", 900, "usd", "unpaid"), CancellationToken.None);
        await _payments.RecordAsync(Payment.PaidBundle(UserId, "cs_1", "pi_1", "bundle_10", 900, "usd", 10, 7), CancellationToken.None);

        (await RowsAsync()).ShouldHaveSingleItem().ShouldBe(new Row(UserId, "bundle", "cs_1", "pi_1", null, "bundle_10", 900, "usd", "paid", 10, 7, null, null));
    }

    [Fact]
    public async Task TheSameStripeId_OfAnotherKind_IsAnotherRow()
    {
        await _payments.RecordAsync(Payment.Authorisation(UserId, "pi_2", null, 50, "usd", UsageId), CancellationToken.None);
        await _payments.RecordAsync(Payment.Capture(UserId, "pi_2", "ch_2", 50, "usd", UsageId), CancellationToken.None);

        (await RowsAsync()).Select(r => (r.Kind, r.Status)).ShouldBe([("authorisation", "authorised"), ("capture", "succeeded")]);
    }

    [Fact]
    public void BadInput_IsRefused_WithTheReason()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => Payment.Refund(UserId, "re_1", null, "ch_1", null, -1, "usd", "succeeded", null, null))
            .ParamName.ShouldBe("amountMinor");
        Should.Throw<ArgumentException>(() => Payment.Capture(UserId, "pi_1", null, 50, "", UsageId)).Message.ShouldContain("currency code");
        Should.Throw<ArgumentException>(() => Payment.SubscriptionInvoice(UserId, "in_1", "sub_1", 50, "dollars")).ParamName.ShouldBe("currency");
        Should.Throw<ArgumentException>(() => Payment.PaidBundle(UserId, " ", null, "bundle_10", 900, "usd", 10, null)).ParamName.ShouldBe("stripeId");
        Should.Throw<ArgumentException>(() => Payment.UnpaidBundle(UserId, "cs_1", null, "bundle_10", 900, "usd", "")).ParamName.ShouldBe("status");
    }

    [Fact]
    public async Task ZeroAmount_IsRecorded()
    {
        await _payments.RecordAsync(Payment.SubscriptionInvoice(UserId, "in_trial", "sub_1", 0, "usd"), CancellationToken.None);

        (await RowsAsync()).ShouldHaveSingleItem().AmountMinor.ShouldBe(0);
    }
}
