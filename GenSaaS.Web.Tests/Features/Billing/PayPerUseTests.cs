using System.Net;
using GenSaaS.Web.Features.Billing;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>Pay per use when the generation fails, and the sweeper that settles holds a crash left behind.</summary>
[Collection(BillingCollection.Name)]
public sealed class PayPerUseTests
{
    [Fact]
    public async Task FailedGeneration_CancelsTheAuthorisation_AndChargesNothing()
    {
        // An image service on a port nobody listens on: the real HTTP backend fails as it would in production.
        using var app = new BillingTestApp(new()
        {
            ["Generation:Backend"] = "Http",
            ["Generation:Http:BaseUrl"] = "http://127.0.0.1:9",
        });
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id }) is not null, "card saved");

        var response = await app.GenerateAsync(client);
        response.StatusCode.ShouldBe(HttpStatusCode.BadGateway);
        (await BillingTestApp.ProblemCodeAsync(response)).ShouldBe("generation_failed");

        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT state FROM usage_charges WHERE user_id = @id", new { id = user.Id }) == "canceled", "authorisation cancelled");
        var reference = await app.QueryAsync<string>("SELECT payment_intent_id FROM usage_charges WHERE user_id = @id", new { id = user.Id });
        (await new PaymentIntentService(app.StripeClient).GetAsync(reference)).Status.ShouldBe("canceled");
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE user_id = @id AND kind = 'capture'", new { id = user.Id })).ShouldBe(0);
        (await app.QueryAsync<string>("SELECT status FROM payments WHERE user_id = @id AND kind = 'authorisation'", new { id = user.Id })).ShouldBe("canceled");
    }

    [Fact]
    public async Task Sweeper_CapturesHoldsOfFinishedGenerations_AndCancelsTheRest()
    {
        // No job server: the minutely sweep would otherwise race this test's own sweep for the two holds.
        using var app = new BillingTestApp(new() { ["Jobs:RunServer"] = "false" });
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id }) is not null, "card saved");

        // Two holds placed, then the process "crashed" before capturing or cancelling them.
        var payPerUse = app.Services.CreateScope().ServiceProvider.GetRequiredService<PayPerUse>();
        var old = DateTime.UtcNow.AddMinutes(-10).ToString("yyyy-MM-dd HH:mm:ss.fffffff");
        foreach (var (id, state) in new[] { ("usage_done_" + Guid.NewGuid().ToString("N"), "succeeded"), ("usage_lost_" + Guid.NewGuid().ToString("N"), "released") })
        {
            await app.ExecuteAsync("""
                INSERT INTO usage (id, user_id, idempotency_key, request_hash, state, funding_source, units, period_key, created_at, updated_at)
                VALUES (@id, @userId, @id, 'h', 'reserved', 'pay_per_use', 1, 'month:' || substr(@old, 1, 7), @old, @old)
                """, new { id, userId = user.Id, old });
            (await payPerUse.AuthorizeAsync(id, user.Id, 1, CancellationToken.None)).Authorized.ShouldBeTrue();
            await app.ExecuteAsync("UPDATE usage SET state = @state, updated_at = @old WHERE id = @id; UPDATE usage_charges SET updated_at = @old WHERE usage_id = @id",
                new { id, state, old });
        }

        (await payPerUse.SweepAsync(CancellationToken.None)).ShouldBe(2);
        var states = await app.ListAsync<(string State, string ChargeState, string Reference)>(
            "SELECT u.state, c.state, c.payment_intent_id FROM usage AS u JOIN usage_charges AS c ON c.usage_id = u.id WHERE u.user_id = @id ORDER BY u.state", new { id = user.Id });
        states.Select(s => (s.State, s.ChargeState)).ShouldBe([("released", "canceled"), ("succeeded", "captured")]);
        var intents = new PaymentIntentService(app.StripeClient);
        (await intents.GetAsync(states[0].Reference)).Status.ShouldBe("canceled");
        (await intents.GetAsync(states[1].Reference)).Status.ShouldBe("succeeded");
        (await payPerUse.SweepAsync(CancellationToken.None)).ShouldBe(0);
    }
}
