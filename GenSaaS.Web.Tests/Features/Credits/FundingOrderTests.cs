using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Credits;

namespace GenSaaS.Web.Tests.Features.Credits;

/// <summary>
/// The funding order customers expect: a live monthly plan within its hard cap pays first, then trial credits, prepaid
/// credits and pay per use; and <c>/billing</c> says which in one sentence. The test app's plan has a hard cap of 7.
/// </summary>
public sealed partial class FundingOrderTests(CreditsTestApp app) : IClassFixture<CreditsTestApp>
{
    private static async Task<(HttpStatusCode Status, string? Code)> Generate(HttpClient client, string prompt = "a lighthouse")
    {
        using var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (response.StatusCode, response.IsSuccessStatusCode ? null : body.GetProperty("code").GetString());
    }

    private static async Task<string> NextImageSentence(HttpClient client)
    {
        var page = await client.GetStringAsync("/billing");
        var match = NextImageRegex().Match(page);
        match.Success.ShouldBeTrue("the billing page shows what pays for the next image");
        return WebUtility.HtmlDecode(match.Groups[1].Value).Trim();
    }

    [GeneratedRegex("""data-testid="next-image-funding">([^<]*)<""")]
    private static partial Regex NextImageRegex();

    private Task<long> Debits(string userId) =>
        app.CountAsync("SELECT count(*) FROM credit_ledger WHERE user_id = @userId AND kind = 'debit'", new { userId });

    private Task<long> UsageFrom(string userId, string source) =>
        app.CountAsync("SELECT count(*) FROM usage WHERE user_id = @userId AND funding_source = @source", new { userId, source });

    private async Task<long> UsedThisPeriod(HttpClient client) =>
        (await client.GetFromJsonAsync<JsonElement>("/api/v1/me")).GetProperty("generationsThisPeriod").GetInt64();

    private Task SaveCardAsync(string userId) =>
        app.ExecuteAsync("""
            INSERT INTO billing_customers (user_id, stripe_customer_id, default_payment_method, card_brand, card_last4, updated_at)
            VALUES (@userId, @customerId, 'pm_card_visa', 'visa', '4242', '2026-01-01 00:00:00')
            """, new { userId, customerId = "cus_" + Guid.NewGuid().ToString("N") });

    [Fact]
    public async Task Subscriber_WithPrepaidCredits_IsPaidByThePlan_AndThePrepaidCreditsAreUntouched()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 5, "bundle for test", $"p-{user.Id}", "test");
        await app.SubscribeAsync(user.Id);
        (await NextImageSentence(client)).ShouldBe("Your monthly plan pays for your next image (0 of 7 used this period).");

        (await Generate(client)).Status.ShouldBe(HttpStatusCode.Created);
        (await Generate(client)).Status.ShouldBe(HttpStatusCode.Created);

        (await app.BalanceAsync(user.Id)).ShouldBe((0, 5));
        (await Debits(user.Id)).ShouldBe(0, "the plan paid: no credit left the ledger");
        (await UsageFrom(user.Id, "subscription")).ShouldBe(2);
        (await UsedThisPeriod(client)).ShouldBe(2, "the plan's period counts the images it paid for");
        (await NextImageSentence(client)).ShouldBe("Your monthly plan pays for your next image (2 of 7 used this period).");
    }

    [Fact]
    public async Task AtTheHardCap_TrialThenPrepaidCreditsPay_ThenFairUseLimit_EvenWithASavedCard()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.SubscribeAsync(user.Id);
        await SaveCardAsync(user.Id);
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 2, "bundle for test", $"p-{user.Id}", "test");
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Trial, 1, "trial for test", $"t-{user.Id}", "test");
        for (var i = 0; i < 7; i++)
            (await Generate(client, $"plan image {i}")).Status.ShouldBe(HttpStatusCode.Created);
        (await app.BalanceAsync(user.Id)).ShouldBe((1, 2));
        (await NextImageSentence(client)).ShouldBe(
            "Your monthly plan has used all 7 images of this period, so your trial credits pay for your next image (1 left).");

        (await Generate(client, "past the cap 1")).Status.ShouldBe(HttpStatusCode.Created);
        (await app.BalanceAsync(user.Id)).ShouldBe((0, 2), "trial credits pay before prepaid ones");
        (await NextImageSentence(client)).ShouldBe(
            "Your monthly plan has used all 7 images of this period, so your prepaid credits pay for your next image (2 left).");

        (await Generate(client, "past the cap 2")).Status.ShouldBe(HttpStatusCode.Created);
        (await Generate(client, "past the cap 3")).Status.ShouldBe(HttpStatusCode.Created);
        (await app.BalanceAsync(user.Id)).ShouldBe((0, 0));
        (await UsedThisPeriod(client)).ShouldBe(7, "images paid with credits do not count against the plan's cap");
        (await NextImageSentence(client)).ShouldStartWith(
            "Your monthly plan has used all 7 images of this period (it renews on ");
        (await NextImageSentence(client)).ShouldEndWith("and nothing else can pay for your next image; buy a bundle to keep generating.");

        (await Generate(client, "one too many")).ShouldBe((HttpStatusCode.TooManyRequests, "fair_use_limit"));
        (await UsageFrom(user.Id, "pay_per_use")).ShouldBe(0, "a saved card is never charged on top of the plan");
        (await UsageFrom(user.Id, "subscription")).ShouldBe(7);
        (await UsageFrom(user.Id, "trial")).ShouldBe(1);
        (await UsageFrom(user.Id, "prepaid")).ShouldBe(2);
    }

    [Fact]
    public async Task ThirtyConcurrentGenerations_NearTheCap_NeverOvershootIt_AndSpendCreditsOnlyPastIt()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.SubscribeAsync(user.Id);
        for (var i = 0; i < 4; i++)
            (await Generate(client, $"warm up {i}")).Status.ShouldBe(HttpStatusCode.Created);
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 30, "bundle for test", $"p-{user.Id}", "test");
        var ledgerBefore = await app.LedgerSumAsync(user.Id);

        async Task<(HttpStatusCode Status, string? Code)[]> Race(int count, string name)
        {
            using var start = new SemaphoreSlim(0);
            var requests = Enumerable.Range(0, count).Select(async i =>
            {
                await start.WaitAsync();
                return await Generate(client, $"{name} #{i}");
            }).ToList();
            start.Release(count);
            return await Task.WhenAll(requests);
        }

        (await Race(30, "race")).ShouldAllBe(r => r.Status == HttpStatusCode.Created);
        (await UsedThisPeriod(client)).ShouldBe(7, "the plan paid its last 3 images and the cap is not overshot");
        (await UsageFrom(user.Id, "subscription")).ShouldBe(7);
        (await UsageFrom(user.Id, "prepaid")).ShouldBe(27);
        (await app.BalanceAsync(user.Id)).ShouldBe((0, 3), "credits paid only for the images past the cap");

        var second = await Race(10, "second race");
        second.Count(r => r.Status == HttpStatusCode.Created).ShouldBe(3);
        second.Count(r => r == (HttpStatusCode.TooManyRequests, "fair_use_limit")).ShouldBe(7);
        (await UsedThisPeriod(client)).ShouldBe(7);
        (await app.BalanceAsync(user.Id)).ShouldBe((0, 0));
        (await app.LedgerSumAsync(user.Id) - ledgerBefore).ShouldBe(-30, "every credit spent has its debit line");
        (await app.CountAsync("SELECT count(*) FROM usage WHERE user_id = @Id AND state = 'reserved'", user)).ShouldBe(0);
    }

    [Fact]
    public async Task WithoutAPlan_TrialThenPrepaidThenTheSavedCard_PayInThatOrder()
    {
        var (user, client) = await app.SignedInUserAsync();
        await SaveCardAsync(user.Id);
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 1, "bundle for test", $"p-{user.Id}", "test");
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Trial, 1, "trial for test", $"t-{user.Id}", "test");

        (await NextImageSentence(client)).ShouldBe("Your trial credits pay for your next image (1 left).");
        (await app.Ledger.ReserveAsync(user.Id, "k1", "h1")).Usage!.Source.ShouldBe(FundingSource.Trial);
        (await NextImageSentence(client)).ShouldBe("Your prepaid credits pay for your next image (1 left).");
        (await app.Ledger.ReserveAsync(user.Id, "k2", "h2")).Usage!.Source.ShouldBe(FundingSource.Prepaid);
        (await NextImageSentence(client)).ShouldMatch(@"^Your saved card is charged \d+\.\d\d [A-Z]{3} per image, starting with your next one\.$");
        (await app.Ledger.ReserveAsync(user.Id, "k3", "h3")).Usage!.Source.ShouldBe(FundingSource.PayPerUse);
        (await app.BalanceAsync(user.Id)).ShouldBe((0, 0));
    }

    [Fact]
    public async Task PastDuePlan_LetsPrepaidCreditsPay_AndStopsWithSubscriptionInactiveWhenTheyRunOut()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.SubscribeAsync(user.Id, status: "past_due");
        await SaveCardAsync(user.Id);
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 1, "bundle for test", $"p-{user.Id}", "test");
        (await NextImageSentence(client)).ShouldBe("Your prepaid credits pay for your next image (1 left).");

        (await Generate(client)).Status.ShouldBe(HttpStatusCode.Created);
        (await UsageFrom(user.Id, "prepaid")).ShouldBe(1);
        (await NextImageSentence(client)).ShouldBe(
            "Nothing can pay for your next image until your monthly plan's payment goes through; update your card or buy a bundle.");
        (await Generate(client)).ShouldBe((HttpStatusCode.PaymentRequired, "subscription_inactive"));
    }

    [Fact]
    public async Task NothingToPayWith_SaysSo_AndTheGenerationIsRefused()
    {
        var (_, client) = await app.SignedInUserAsync();
        (await NextImageSentence(client)).ShouldBe("Nothing can pay for your next image; buy a bundle, subscribe or save a card.");
        (await Generate(client)).ShouldBe((HttpStatusCode.PaymentRequired, "insufficient_credits"));
    }
}
