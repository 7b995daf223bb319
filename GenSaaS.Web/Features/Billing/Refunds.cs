using GenSaaS.Web.Features.Operations;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// <c>GenSaaS.Web billing refund --charge ID [--amount N]</c>: refunds through Stripe. The <c>charge.refunded</c> webhook
/// records the refund and takes back the unused share of a bundle's credits.
/// </summary>
public sealed class RefundCommand(StripeGateway stripe, BillingModeInfo mode) : ICliCommand
{
    public string Name => "billing refund";

    public string Usage => "billing refund --charge ID [--amount MINOR_UNITS]    refund a charge, fully or in part";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var chargeId = args.Required("charge");
        var amount = args.OptionalLong("amount");
        if (amount is <= 0)
            throw new CliUsageException("--amount must be positive (minor units, e.g. 200 for 2.00)");
        if (!mode.IsEnabled)
        {
            await output.WriteLineAsync("Billing is disabled: nothing to refund.");
            return 2;
        }
        try
        {
            var refund = await stripe.RefundAsync(chargeId, amount, ct);
            await output.WriteLineAsync($"Refund {refund.Id}: {refund.Amount} {refund.Currency} on {chargeId} is {refund.Status}. Credits are taken back when Stripe's charge.refunded event arrives.");
            return 0;
        }
        catch (Stripe.StripeException ex)
        {
            await output.WriteLineAsync($"Stripe refused the refund: {ex.StripeError?.Message ?? ex.Message}");
            return 1;
        }
    }
}
