using GenSaaS.Web.Features.Operations;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// <c>GenSaaS.Web billing refund --charge ID [--amount N] [--request-id R]</c>: refunds through Stripe. The <c>charge.refunded</c> webhook
/// records the refund and takes back the unused share of a bundle's credits. The idempotency key is the charge, the amount and
/// the request id, so the same command run twice (a retry after a timeout, a double paste) refunds once; a deliberate second
/// refund of the same amount takes another request id.
/// </summary>
public sealed class RefundCommand(StripeGateway stripe, BillingModeInfo mode) : ICliCommand
{
    public string Name => "billing refund";

    public string Usage => "billing refund --charge ID [--amount MINOR_UNITS] [--request-id ID]    refund a charge, fully or in part (once per charge, amount and request id)";

    /// <summary>The request id when none is given: running the same refund again is then the same request.</summary>
    public const string DefaultRequestId = "1";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var chargeId = args.Required("charge");
        var amount = args.OptionalLong("amount");
        var requestId = args.Optional("request-id") is { Length: > 0 } given ? given.Trim() : DefaultRequestId;
        if (amount is <= 0)
            throw new CliUsageException("--amount must be positive (minor units, e.g. 200 for 2.00)");
        if (!mode.IsEnabled)
        {
            await output.WriteLineAsync("Billing is disabled: nothing to refund.");
            return 2;
        }
        try
        {
            var refund = await stripe.RefundAsync(chargeId, amount, requestId, ct);
            await output.WriteLineAsync($"Refund {refund.Id}: {refund.Amount} {refund.Currency} on {chargeId} is {refund.Status} (idempotency key {StripeGateway.RefundKey(chargeId, amount, requestId)}). Credits are taken back when Stripe's charge.refunded event arrives.");
            return 0;
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            await output.WriteLineAsync($"Stripe did not answer ({ex.Message}). Run the same command again: with the same charge, amount and request id it refunds at most once.");
            return 1;
        }
        catch (Stripe.StripeException ex)
        {
            await output.WriteLineAsync($"Stripe refused the refund: {ex.StripeError?.Message ?? ex.Message}");
            return 1;
        }
    }
}
