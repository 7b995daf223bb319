using System.Net;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Operations;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>Stripe calls that time out, are rate limited or fail at Stripe: retried with the same idempotency key, never doubled.</summary>
[Collection(BillingCollection.Name)]
public sealed class NetworkFaultsTests
{
    private static async Task<(string Output, int Exit)> RefundAsync(BillingTestApp app, params string[] args)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var command = scope.ServiceProvider.GetServices<ICliCommand>().Single(c => c.Name == "billing refund");
        var output = new StringWriter();
        var exit = await command.RunAsync(new CliArgs(args), output, CancellationToken.None);
        return (output.ToString(), exit);
    }

    private static async Task<string> BundleChargeAsync(BillingTestApp app, HttpClient client)
    {
        var sessionId = await app.BuyAsync(client, "bundle_10");
        var session = await new Stripe.Checkout.SessionService(app.StripeClient).GetAsync(sessionId);
        return (await new PaymentIntentService(app.StripeClient).GetAsync(session.PaymentIntentId)).LatestChargeId;
    }

    [Fact]
    public async Task RefundCli_RunTwiceWithTheSameArguments_RefundsOnce_AndAnotherRequestIdRefundsAgain()
    {
        using var app = new BillingTestApp();
        var (_, client) = await app.SignedInUserAsync();
        var chargeId = await BundleChargeAsync(app, client);

        var first = await RefundAsync(app, "--charge", chargeId, "--amount", "100");
        var second = await RefundAsync(app, "--charge", chargeId, "--amount", "100");
        first.Exit.ShouldBe(0, first.Output);
        second.Exit.ShouldBe(0, second.Output);
        var refunds = await new RefundService(app.StripeClient).ListAsync(new RefundListOptions { Charge = chargeId });
        refunds.Data.Count.ShouldBe(1);
        refunds.Data[0].Amount.ShouldBe(100);

        var deliberate = await RefundAsync(app, "--charge", chargeId, "--amount", "100", "--request-id", "second-goodwill");
        deliberate.Exit.ShouldBe(0, deliberate.Output);
        (await new RefundService(app.StripeClient).ListAsync(new RefundListOptions { Charge = chargeId })).Data.Sum(r => r.Amount).ShouldBe(200);
        (await new ChargeService(app.StripeClient).GetAsync(chargeId)).AmountRefunded.ShouldBe(200);
    }
}
