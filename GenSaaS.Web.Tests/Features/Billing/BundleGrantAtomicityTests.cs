using System.Net;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// A paid bundle's credits and the payment row that paid for them are written in one transaction: when the payment row cannot
/// be written, no credit is granted either (the event fails and is retried), and the retry writes both, once.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class BundleGrantAtomicityTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    [Fact]
    public async Task WhenThePaymentRowCannotBeWritten_NoCreditIsGranted_AndTheRetryWritesBothOnce()
    {
        var (user, client) = await app.SignedInUserAsync();
        var trigger = $"test_no_bundle_row_{user.Id.Replace("-", "")}";
        await app.ExecuteAsync($"""
            CREATE TRIGGER {trigger} BEFORE INSERT ON payments WHEN NEW.user_id = '{user.Id}' AND NEW.kind = 'bundle'
            BEGIN SELECT RAISE(ABORT, 'injected: the payment row cannot be written'); END;
            """);
        string sessionId;
        try
        {
            sessionId = await app.BuyAsync(client, "bundle_10");
            // Stripe delivered checkout.session.completed; applying it failed, and the success page fails the same way.
            await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<long>(
                "SELECT count(*) FROM stripe_events WHERE type = 'checkout.session.completed' AND object_id = @sessionId", new { sessionId }) > 0,
                "the completed event stored");
            await client.GetAsync($"/billing/success?session_id={sessionId}");
            (await app.PrepaidAsync(user.Id)).ShouldBe(0);
            (await app.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE reference = @sessionId", new { sessionId })).ShouldBe(0);
            (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE stripe_id = @sessionId", new { sessionId })).ShouldBe(0);
        }
        finally
        {
            await app.ExecuteAsync($"DROP TRIGGER {trigger};");
        }

        // The payment row can be written again: the next try (here the success page; Stripe's retry does the same) writes both.
        (await client.GetAsync($"/billing/success?session_id={sessionId}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.GetAsync($"/billing/success?session_id={sessionId}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await app.PrepaidAsync(user.Id)).ShouldBe(10);
        var line = await app.QueryAsync<long>("SELECT id FROM credit_ledger WHERE reference = @sessionId AND kind = 'grant'", new { sessionId });
        (await app.QueryAsync<long>("SELECT count(*) FROM credit_ledger WHERE reference = @sessionId", new { sessionId })).ShouldBe(1);
        (await app.QueryAsync<long>("SELECT count(*) FROM payments WHERE stripe_id = @sessionId AND kind = 'bundle' AND status = 'paid' AND ledger_entry_id = @line",
            new { sessionId, line })).ShouldBe(1);
        // The receipt link is filled in once Stripe gives it.
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<string?>("SELECT receipt_url FROM payments WHERE stripe_id = @sessionId", new { sessionId }) is not null,
            "the receipt link stored");
    }
}
