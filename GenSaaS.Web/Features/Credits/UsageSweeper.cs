using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Shared;
using Hangfire;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Credits;

/// <summary>
/// Finishes what a crash left half-done: a reservation still open long after any generation could have taken
/// is released and its credit returned. Runs every minute; running twice releases nothing twice.
/// </summary>
public sealed class UsageSweeper(Db db, CreditLedger ledger, IOptions<CreditsOptions> options, TimeProvider clock, ILogger<UsageSweeper> logger)
{
    public const string RecurringJobId = "credits-sweep-stale-reservations";

    private const string StaleSql = """
        SELECT id FROM usage
        WHERE state = 'reserved' AND created_at < @cutoff
        ORDER BY created_at
        LIMIT 500;
        """;

    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        var cutoff = clock.GetUtcNow().UtcDateTime.AddSeconds(-options.Value.StaleReservationSeconds);
        List<string> stale;
        await using (var connection = await db.OpenAsync(ct))
            stale = (await connection.QueryAsync<string>(new CommandDefinition(StaleSql, new { cutoff }, cancellationToken: ct))).ToList();

        var released = 0;
        foreach (var usageId in stale)
        {
            if (await ledger.ReleaseAsync(usageId, ProblemCodes.GenerationFailed, "The generation was interrupted before it finished.", ct, freeKey: true))
            {
                released++;
                logger.LogWarning(LogEvents.ReservationSwept, "Released abandoned reservation {UsageId}", usageId);
            }
        }
        return released;
    }
}
