using GenSaaS.Web.Features.Credits;

namespace GenSaaS.Web.Tests.Features.Credits;

/// <summary>The ledger on its own: its guards, its edges and what each answer carries.</summary>
public sealed class CreditLedgerTests(CreditsTestApp app) : IClassFixture<CreditsTestApp>
{
    [Fact]
    public async Task Changes_OfNothing_AreRefused()
    {
        var (user, _) = await app.SignedInUserAsync();
        await Should.ThrowAsync<ArgumentOutOfRangeException>(() => app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 0, "none", null, "test"));
        await Should.ThrowAsync<ArgumentOutOfRangeException>(() => app.Ledger.AdjustAsync(user.Id, CreditBucket.Prepaid, 0, "none", null, "test"));
        await Should.ThrowAsync<ArgumentOutOfRangeException>(() => app.Ledger.TakeBackAsync(user.Id, CreditBucket.Prepaid, 0, "none", "r0-" + user.Id, "test"));
        await Should.ThrowAsync<ArgumentOutOfRangeException>(() => app.Ledger.ReserveAsync(user.Id, "k0", "h", units: 0));
        (await app.LedgerSumAsync(user.Id)).ShouldBe(0);
    }

    [Fact]
    public async Task TakeBack_FromAnEmptyBalance_MovesNothing_AndRecordsNoLine()
    {
        var (user, _) = await app.SignedInUserAsync();
        var taken = await app.Ledger.TakeBackAsync(user.Id, CreditBucket.Prepaid, 4, "refund", "re_empty_" + user.Id, "stripe");
        taken.ShouldBe(new LedgerResult(false, null, 0, 0));
        (await app.CountAsync("SELECT count(*) FROM credit_ledger WHERE user_id = @Id", user)).ShouldBe(0);
    }

    [Fact]
    public async Task Adjust_AddsAndRemoves_AndReportsTheBalanceAfter()
    {
        var (user, _) = await app.SignedInUserAsync();
        var added = await app.Ledger.AdjustAsync(user.Id, CreditBucket.Trial, 3, "goodwill", null, "admin");
        added.Applied.ShouldBeTrue();
        added.Amount.ShouldBe(3);
        added.BalanceAfter.ShouldBe(3);
        var removed = await app.Ledger.AdjustAsync(user.Id, CreditBucket.Trial, -2, "mistake", null, "admin");
        removed.Amount.ShouldBe(-2);
        removed.BalanceAfter.ShouldBe(1);
        (await app.BalanceAsync(user.Id)).ShouldBe((1L, 0L));
    }

    [Fact]
    public async Task Reserve_TakesTheUnitsFromTheFirstBucketThatCoversThem()
    {
        var (user, _) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Trial, 1, "trial", "t-" + user.Id, "test");
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 3, "bundle", "p-" + user.Id, "test");

        var two = await app.Ledger.ReserveAsync(user.Id, "two", "h", units: 2);
        two.Status.ShouldBe(ReserveStatus.Reserved);
        two.Usage!.FundingSource.ShouldBe("prepaid");
        two.Usage.Units.ShouldBe(2);
        two.Usage.State.ShouldBe("reserved");
        two.Usage.UserId.ShouldBe(user.Id);
        (await app.BalanceAsync(user.Id)).ShouldBe((1L, 1L));

        var one = await app.Ledger.ReserveAsync(user.Id, "one", "h", units: 1);
        one.Usage!.FundingSource.ShouldBe("trial");
        (await app.BalanceAsync(user.Id)).ShouldBe((0L, 1L));

        var denied = await app.Ledger.ReserveAsync(user.Id, "three", "h", units: 2);
        denied.Status.ShouldBe(ReserveStatus.Denied);
        denied.Denial.ShouldBe(new Denial(DenialReason.NoFunding));
        denied.Usage.ShouldBeNull();
    }

    [Fact]
    public async Task Reserve_TheSameKey_IsTheSameUsage_OrAConflict()
    {
        var (user, _) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 2, "bundle", "p-" + user.Id, "test");
        var first = await app.Ledger.ReserveAsync(user.Id, "same", "hash-a");
        var again = await app.Ledger.ReserveAsync(user.Id, "same", "hash-a");
        again.Status.ShouldBe(ReserveStatus.Existing);
        again.Usage!.Id.ShouldBe(first.Usage!.Id);
        again.Usage.ShouldBe(first.Usage with { CreatedAt = again.Usage.CreatedAt });
        var other = await app.Ledger.ReserveAsync(user.Id, "same", "hash-b");
        other.Status.ShouldBe(ReserveStatus.Conflict);
        (await app.BalanceAsync(user.Id)).ShouldBe((0L, 1L));
    }

    [Fact]
    public async Task Release_ThatFreesTheKey_LetsTheSameKeyReserveAgain_AndOneThatDoesNot_Replays()
    {
        var (user, _) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 2, "bundle", "p-" + user.Id, "test");

        var kept = await app.Ledger.ReserveAsync(user.Id, "declined", "h");
        (await app.Ledger.ReleaseAsync(kept.Usage!.Id, "payment_failed", "declined")).ShouldBeTrue();
        var replay = await app.Ledger.ReserveAsync(user.Id, "declined", "h");
        replay.Status.ShouldBe(ReserveStatus.Existing);
        replay.Usage!.Id.ShouldBe(kept.Usage.Id);

        var failed = await app.Ledger.ReserveAsync(user.Id, "retry-me", "h");
        (await app.Ledger.ReleaseAsync(failed.Usage!.Id, "payment_unavailable", "Stripe did not answer", freeKey: true)).ShouldBeTrue();
        (await app.Ledger.GetUsageAsync(failed.Usage.Id))!.IdempotencyKey.ShouldBe($"retry-me:released:{failed.Usage.Id}");
        var retried = await app.Ledger.ReserveAsync(user.Id, "retry-me", "h");
        retried.Status.ShouldBe(ReserveStatus.Reserved);
        retried.Usage!.Id.ShouldNotBe(failed.Usage.Id);
        (await app.Ledger.ReserveAsync(user.Id, "retry-me", "h")).Usage!.Id.ShouldBe(retried.Usage.Id);
        (await app.Ledger.ReserveAsync(user.Id, "retry-me", "other")).Status.ShouldBe(ReserveStatus.Conflict);
        // A second release of the freed usage changes nothing, its key included.
        (await app.Ledger.ReleaseAsync(failed.Usage.Id, "payment_unavailable", "again", freeKey: true)).ShouldBeFalse();
        (await app.Ledger.GetUsageAsync(failed.Usage.Id))!.IdempotencyKey.ShouldBe($"retry-me:released:{failed.Usage.Id}");
        (await app.BalanceAsync(user.Id)).ShouldBe((0L, 1L));
        (await app.LedgerSumAsync(user.Id)).ShouldBe(1);
    }

    [Fact]
    public async Task Release_ReturnsTheUnits_Once_AndKeepsTheCodeApartFromTheMessage()
    {
        var (user, _) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 3, "bundle", "p-" + user.Id, "test");
        var reservation = await app.Ledger.ReserveAsync(user.Id, "fail", "h", units: 3);
        (await app.BalanceAsync(user.Id)).ShouldBe((0L, 0L));

        (await app.Ledger.ReleaseAsync(reservation.Usage!.Id, "payment_failed", "Your card was declined: insufficient funds.")).ShouldBeTrue();
        (await app.Ledger.ReleaseAsync(reservation.Usage.Id, "payment_failed", "again")).ShouldBeFalse();
        (await app.BalanceAsync(user.Id)).ShouldBe((0L, 3L));
        var usage = await app.Ledger.GetUsageAsync(reservation.Usage.Id);
        usage!.State.ShouldBe("released");
        usage.ErrorCode.ShouldBe("payment_failed");
        usage.Error.ShouldBe("Your card was declined: insufficient funds.");
        (await app.CountAsync("SELECT coalesce(sum(used), 0) FROM usage_counters WHERE user_id = @Id", user)).ShouldBe(0);
    }

    [Fact]
    public async Task Complete_OnlyAReservedUsage()
    {
        var (user, _) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 2, "bundle", "p-" + user.Id, "test");
        var done = await app.Ledger.ReserveAsync(user.Id, "done", "h");
        var lost = await app.Ledger.ReserveAsync(user.Id, "lost", "h");
        await app.Ledger.ReleaseAsync(lost.Usage!.Id, "generation_failed", "late");

        (await app.Db.WriteAsync((c, tx) => app.Ledger.Complete(c, tx, done.Usage!.Id, "gen-1"))).ShouldBeTrue();
        (await app.Db.WriteAsync((c, tx) => app.Ledger.Complete(c, tx, lost.Usage.Id, "gen-2"))).ShouldBeFalse();
        var completed = await app.Ledger.GetUsageAsync(done.Usage!.Id);
        completed!.State.ShouldBe("succeeded");
        completed.GenerationId.ShouldBe("gen-1");
        (await app.Ledger.GetUsageAsync(lost.Usage.Id))!.State.ShouldBe("released");
    }

    [Fact]
    public async Task Subscription_WithAPlanNoLongerConfigured_UsesTheMonthlyPlansLimits()
    {
        var (user, _) = await app.SignedInUserAsync();
        await app.ExecuteAsync("""
            INSERT INTO subscriptions (stripe_subscription_id, user_id, plan_key, status, current_period_start, current_period_end, updated_at)
            VALUES (@id, @userId, 'retired_plan', 'trialing', @start, @end, @start)
            """, new { id = "sub_retired_" + user.Id, userId = user.Id, start = DateTime.UtcNow.AddDays(-1), end = DateTime.UtcNow.AddDays(29) });

        var reservation = await app.Ledger.ReserveAsync(user.Id, "r1", "h", units: 4);
        reservation.Status.ShouldBe(ReserveStatus.Reserved);
        reservation.Usage!.FundingSource.ShouldBe("subscription");
        reservation.Usage.SubscriptionId.ShouldBe("sub_retired_" + user.Id);
        reservation.FairUse.ShouldBe(new FairUseLevel(4, 5, 7));
        reservation.Notices.ShouldBe([80]);
        var capped = await app.Ledger.ReserveAsync(user.Id, "r2", "h", units: 4);
        capped.Denial!.Reason.ShouldBe(DenialReason.FairUseCap);
        capped.Denial.Used.ShouldBe(4);
        capped.Denial.HardCap.ShouldBe(7);
        capped.Denial.RetryAt.ShouldNotBeNull();
        var last = await app.Ledger.ReserveAsync(user.Id, "r3", "h", units: 3);
        last.FairUse.ShouldBe(new FairUseLevel(7, 5, 7));
        last.Notices.ShouldBe([100]);
    }

    [Fact]
    public async Task ASubscriptionOutsideItsPeriod_DoesNotPay()
    {
        var (user, _) = await app.SignedInUserAsync();
        await app.ExecuteAsync("""
            INSERT INTO subscriptions (stripe_subscription_id, user_id, plan_key, status, current_period_start, current_period_end, updated_at)
            VALUES (@id, @userId, 'subscription_unlimited', 'active', @start, @end, @start)
            """, new { id = "sub_ended_" + user.Id, userId = user.Id, start = DateTime.UtcNow.AddDays(-31), end = DateTime.UtcNow.AddMinutes(-1) });
        (await app.Ledger.ReserveAsync(user.Id, "late", "h")).Denial.ShouldBe(new Denial(DenialReason.NoFunding));
    }

    [Fact]
    public async Task AnUnpaidSubscription_IsNamedInTheDenial()
    {
        var (user, _) = await app.SignedInUserAsync();
        await app.SubscribeAsync(user.Id, status: "incomplete");
        (await app.Ledger.ReserveAsync(user.Id, "unpaid", "h")).Denial.ShouldBe(new Denial(DenialReason.SubscriptionUnpaid, SubscriptionStatus: "incomplete"));
    }

    [Fact]
    public void PeriodKeys_AreTheSubscriptionsPeriod_OrTheCalendarMonth()
    {
        var now = new DateTime(2026, 11, 25, 4, 3, 31, DateTimeKind.Utc);
        CreditLedger.PeriodKey(null, now).ShouldBe("month:2026-11");
        var subscription = new SubscriptionFacts("sub_1", "subscription_unlimited", "active", new DateTime(2026, 11, 10, 0, 0, 0, DateTimeKind.Utc), null, false);
        CreditLedger.PeriodKey(subscription, now).ShouldBe("sub:sub_1:2026-11-10 00:00:00.0000000");
        CreditLedger.PeriodKey(subscription with { PeriodStart = null }, now).ShouldBe("month:2026-11");
    }

    [Theory]
    [InlineData("trial", FundingSource.Trial)]
    [InlineData("prepaid", FundingSource.Prepaid)]
    [InlineData("subscription", FundingSource.Subscription)]
    [InlineData("pay_per_use", FundingSource.PayPerUse)]
    public void FundingSources_ReadByName(string name, FundingSource source) => CreditLedger.ParseSource(name).ShouldBe(source);

    [Fact]
    public void AnUnknownFundingSource_IsAnError() => Should.Throw<InvalidOperationException>(() => CreditLedger.ParseSource("gift"));
}
