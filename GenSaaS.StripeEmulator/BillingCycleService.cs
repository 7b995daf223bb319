namespace GenSaaS.StripeEmulator;

/// <summary>
/// Lets real time run Stripe's own billing too: period ends, renewal invoices finalized and charged an hour after
/// <c>invoice.created</c>, Smart-Retries-like retries and bank debits settling. Advancing the clock from the dev
/// controls does the same at once.
/// </summary>
internal sealed class BillingCycleService(EmulatedStripe emulator, ILogger<BillingCycleService> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var processed = await emulator.RunDueBillingCyclesAsync(stoppingToken);
                if (processed > 0)
                    logger.LogInformation("Stripe emulator ran {Steps} billing steps (renewals, charges, retries, settlements)", processed);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogError(ex, "Stripe emulator billing cycle run failed; trying again in {Interval}", Interval);
            }
        }
    }
}
