using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GenSaaS.Web.Features.Credits;

namespace GenSaaS.Web.Tests.Features.Credits;

public sealed class LedgerConcurrencyTests(CreditsTestApp app) : IClassFixture<CreditsTestApp>
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public async Task TwoHundredConcurrentRequests_AgainstTwentyCredits_ExactlyTwentySucceed(int round)
    {
        var (user, client) = await app.SignedInUserAsync($"race-{round}-{Guid.NewGuid():N}@example.com");
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 20, "test grant", $"race-{round}-{user.Id}", "test");
        var before = await app.LedgerSumAsync(user.Id);

        using var start = new SemaphoreSlim(0);
        var requests = Enumerable.Range(0, 200).Select(async i =>
        {
            await start.WaitAsync();
            using var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = $"race {round} #{i}" });
            var code = response.IsSuccessStatusCode ? null : (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();
            return (response.StatusCode, code);
        }).ToList();
        start.Release(200);
        var results = await Task.WhenAll(requests);

        results.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(20);
        results.Count(r => r.StatusCode == HttpStatusCode.PaymentRequired && r.code == "insufficient_credits").ShouldBe(180);
        (await app.BalanceAsync(user.Id)).ShouldBe((0, 0));
        (await app.LedgerSumAsync(user.Id) - before).ShouldBe(-20, "the ledger moves exactly as the balance did");
        (await app.CountAsync("SELECT count(*) FROM usage WHERE user_id = @Id AND state = 'succeeded'", user)).ShouldBe(20);
        (await app.CountAsync("SELECT count(*) FROM generations WHERE user_id = @Id", user)).ShouldBe(20);
        (await app.CountAsync("SELECT count(*) FROM usage WHERE user_id = @Id AND state = 'reserved'", user)).ShouldBe(0);
    }

    [Fact]
    public async Task SameIdempotencyKey_SentTenTimesInParallel_ChargesOnce_AndAnswersTheSame()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 5, "test grant", $"idem-{user.Id}", "test");

        var key = Guid.NewGuid().ToString();
        var results = await Task.WhenAll(Enumerable.Range(0, 10).Select(async _ =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/generations") { Content = JsonContent.Create(new { prompt = "one fox" }) };
            request.Headers.Add("Idempotency-Key", key);
            using var response = await client.SendAsync(request);
            return (response.StatusCode, Body: await response.Content.ReadFromJsonAsync<JsonElement>());
        }));

        results.ShouldAllBe(r => r.StatusCode == HttpStatusCode.Created);
        results.Select(r => r.Body.GetProperty("id").GetString()).Distinct().Count().ShouldBe(1);
        (await app.BalanceAsync(user.Id)).Prepaid.ShouldBe(4);
        (await app.CountAsync("SELECT count(*) FROM usage WHERE user_id = @Id", user)).ShouldBe(1);
        (await app.CountAsync("SELECT count(*) FROM generations WHERE user_id = @Id", user)).ShouldBe(1);
    }

    [Fact]
    public async Task SameIdempotencyKey_WithAnotherPrompt_Is409_AndChargesNothingMore()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 5, "test grant", $"idem409-{user.Id}", "test");
        async Task<HttpResponseMessage> Send(string prompt)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/generations") { Content = JsonContent.Create(new { prompt }) };
            request.Headers.Add("Idempotency-Key", "key-1");
            return await client.SendAsync(request);
        }

        (await Send("a cat")).StatusCode.ShouldBe(HttpStatusCode.Created);
        var conflict = await Send("a dog");
        conflict.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await conflict.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString().ShouldBe("idempotency_conflict");
        (await app.BalanceAsync(user.Id)).Prepaid.ShouldBe(4);
    }
}
