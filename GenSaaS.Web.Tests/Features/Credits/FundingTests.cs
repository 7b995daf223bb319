using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Emails;
using GenSaaS.Web.Features.Credits;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Credits;

public sealed class FundingTests(CreditsTestApp app) : IClassFixture<CreditsTestApp>
{
    private static async Task<(HttpStatusCode Status, JsonElement Body)> Generate(HttpClient client, string prompt = "a quiet harbour")
    {
        using var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt });
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    [Fact]
    public async Task TrialCreditsPayFirst_ThenPrepaid_ThenNothing()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Trial, 1, "trial for test", $"t-{user.Id}", "test");
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 1, "bundle for test", $"p-{user.Id}", "test");

        (await Generate(client)).Status.ShouldBe(HttpStatusCode.Created);
        (await app.BalanceAsync(user.Id)).ShouldBe((0, 1));
        (await Generate(client)).Status.ShouldBe(HttpStatusCode.Created);
        (await app.BalanceAsync(user.Id)).ShouldBe((0, 0));

        var denied = await Generate(client);
        denied.Status.ShouldBe(HttpStatusCode.PaymentRequired);
        denied.Body.GetProperty("code").GetString().ShouldBe("insufficient_credits");
        (await app.CountAsync("SELECT count(*) FROM usage WHERE user_id = @Id AND funding_source = 'trial'", user)).ShouldBe(1);
        (await app.CountAsync("SELECT count(*) FROM usage WHERE user_id = @Id AND funding_source = 'prepaid'", user)).ShouldBe(1);
    }

    [Fact]
    public async Task Subscription_WarnsAtSoftLimit_EmailsOncePerThreshold_AndStopsAtHardCap()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.SubscribeAsync(user.Id);

        var warnings = new List<string?>();
        for (var i = 1; i <= 7; i++)
        {
            var (status, body) = await Generate(client, $"image {i}");
            status.ShouldBe(HttpStatusCode.Created, body.ToString());
            warnings.Add(body.TryGetProperty("warning", out var w) ? w.GetString() : null);
        }

        warnings.Take(3).ShouldAllBe(w => w == null);
        warnings[3].ShouldNotBeNull().ShouldContain("4 of 5");
        warnings[5].ShouldNotBeNull().ShouldContain("above the fair-use level");
        (await app.CountAsync("SELECT count(*) FROM usage_notices WHERE user_id = @Id", user)).ShouldBe(2);
        var outbox = app.Services.GetRequiredService<OutboxMailSender>();
        var subjects = new List<string>();
        for (var wait = 0; wait < 100 && subjects.Count < 2; wait++)
        {
            await Task.Delay(200);
            subjects = outbox.List().Where(m => m.To == user.Email).Select(m => m.Subject).ToList();
        }
        subjects.Count.ShouldBe(2, "one email at 80% and one at 100%, each sent once by the background job");
        subjects.ShouldContain(s => s.Contains("80%"));
        subjects.ShouldContain(s => s.Contains("reached"));

        var capped = await Generate(client, "one too many");
        capped.Status.ShouldBe(HttpStatusCode.TooManyRequests);
        capped.Body.GetProperty("code").GetString().ShouldBe("fair_use_limit");

        var me = await client.GetFromJsonAsync<JsonElement>("/api/v1/me");
        me.GetProperty("plan").GetString().ShouldBe("subscription_unlimited");
        me.GetProperty("generationsThisPeriod").GetInt64().ShouldBe(7);
        me.GetProperty("period").GetProperty("hardCap").GetInt32().ShouldBe(7);
    }

    [Fact]
    public async Task PastDueSubscription_StopsGeneration_WithSubscriptionInactive()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.SubscribeAsync(user.Id, status: "past_due");
        var denied = await Generate(client);
        denied.Status.ShouldBe(HttpStatusCode.PaymentRequired);
        denied.Body.GetProperty("code").GetString().ShouldBe("subscription_inactive");
    }

    [Fact]
    public async Task AGrant_ReturnsItsOwnLedgerLine_AndAReplayTheSameOne()
    {
        var (user, _) = await app.SignedInUserAsync();
        var first = await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 3, "first", $"g1-{user.Id}", "test");
        var second = await app.Ledger.GrantAsync(user.Id, CreditBucket.Trial, 2, "second", $"g2-{user.Id}", "test");
        var again = await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 3, "first", $"g1-{user.Id}", "test");

        (await app.CountAsync("SELECT id FROM credit_ledger WHERE reference = @r", new { r = $"g1-{user.Id}" })).ShouldBe(first.EntryId!.Value);
        (await app.CountAsync("SELECT id FROM credit_ledger WHERE reference = @r", new { r = $"g2-{user.Id}" })).ShouldBe(second.EntryId!.Value);
        (first.Applied, second.Applied, again.Applied).ShouldBe((true, true, false));
        again.EntryId.ShouldBe(first.EntryId);
        (first.BalanceAfter, second.BalanceAfter).ShouldBe((3, 2));
    }

    [Fact]
    public async Task Me_ReturnsEmailPlanAndBalances()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 10, "bundle", $"me-{user.Id}", "test");
        await Generate(client);

        var me = await client.GetFromJsonAsync<JsonElement>("/api/v1/me");
        me.GetProperty("email").GetString().ShouldBe(user.Email);
        me.GetProperty("plan").GetString().ShouldBe("prepaid");
        me.GetProperty("trialCredits").GetInt64().ShouldBe(0);
        me.GetProperty("prepaidCredits").GetInt64().ShouldBe(9);
        me.GetProperty("generationsThisPeriod").GetInt64().ShouldBe(1);
    }

    [Fact]
    public async Task Grant_WithTheSameReference_IsAppliedOnce()
    {
        var user = await app.CreateUserAsync($"grant-{Guid.NewGuid():N}@example.com");
        (await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 10, "bundle_10", "cs_test_same", "stripe")).Applied.ShouldBeTrue();
        (await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 10, "bundle_10", "cs_test_same", "stripe")).Applied.ShouldBeFalse();
        (await app.BalanceAsync(user.Id)).Prepaid.ShouldBe(10);
    }

    [Fact]
    public async Task TakeBack_TakesAtMostWhatIsLeft_AndNeverGoesBelowZero()
    {
        var user = await app.CreateUserAsync($"takeback-{Guid.NewGuid():N}@example.com");
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 3, "bundle", $"tb-{user.Id}", "stripe");
        var taken = await app.Ledger.TakeBackAsync(user.Id, CreditBucket.Prepaid, 10, "refund", $"re_{user.Id}", "stripe");
        taken.Amount.ShouldBe(-3);
        (await app.BalanceAsync(user.Id)).Prepaid.ShouldBe(0);
        (await app.Ledger.TakeBackAsync(user.Id, CreditBucket.Prepaid, 10, "refund", $"re_{user.Id}", "stripe")).Applied.ShouldBeFalse();
        await Should.ThrowAsync<InsufficientCreditsException>(() => app.Ledger.AdjustAsync(user.Id, CreditBucket.Prepaid, -1, "oops", null, "admin"));
        (await app.LedgerSumAsync(user.Id)).ShouldBe(0);
    }

    [Fact]
    public async Task AbandonedReservation_IsReleasedBySweeper_AndTheCreditReturns()
    {
        var (user, _) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 2, "bundle", $"sw-{user.Id}", "test");
        var reservation = await app.Ledger.ReserveAsync(user.Id, "crashed-request", "hash");
        reservation.Status.ShouldBe(ReserveStatus.Reserved);
        (await app.BalanceAsync(user.Id)).Prepaid.ShouldBe(1);

        var sweeper = app.Services.GetRequiredService<UsageSweeper>();
        (await sweeper.SweepAsync(CancellationToken.None)).ShouldBe(0, "a fresh reservation may still be generating");

        await app.ExecuteAsync("UPDATE usage SET created_at = @old WHERE id = @id", new { old = DateTime.UtcNow.AddHours(-1), id = reservation.Usage!.Id });
        (await sweeper.SweepAsync(CancellationToken.None)).ShouldBeGreaterThanOrEqualTo(1);
        (await sweeper.SweepAsync(CancellationToken.None)).ShouldBe(0);

        (await app.BalanceAsync(user.Id)).Prepaid.ShouldBe(2);
        (await app.Ledger.GetUsageAsync(reservation.Usage.Id))!.State.ShouldBe("released");
        (await app.LedgerSumAsync(user.Id)).ShouldBe(2);
    }
}
