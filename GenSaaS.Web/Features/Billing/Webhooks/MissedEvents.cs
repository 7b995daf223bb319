using Dapper;
using GenSaaS.Web.Data;
using Stripe;

namespace GenSaaS.Web.Features.Billing.Webhooks;

/// <summary>
/// Catches up on webhooks that never arrived (the endpoint was down longer than Stripe retries, a delivery was lost): lists
/// Stripe's events of the types the app handles created since the last catch-up (or, the first time, since the newest
/// event received), less <see cref="ReconciliationOptions.CatchUpOverlapMinutes"/>, and applies each one the app has not
/// stored through the same path as a delivery (<see cref="StripeWebhooks.ApplyMissedAsync"/>): once, by event id. Stripe
/// keeps events for 30 days, so nothing older is asked for.
/// </summary>
public sealed class MissedEvents(
    Db db,
    StripeGateway stripe,
    StripeWebhooks webhooks,
    BillingSettings settings,
    Microsoft.Extensions.Options.IOptions<ReconciliationOptions> options,
    TimeProvider clock,
    ILogger<MissedEvents> logger)
{
    /// <summary>The newest event time (unix seconds) a completed catch-up listed, kept in <c>billing_settings</c>.</summary>
    public const string CaughtUpToKey = "events_caught_up_to";

    private static readonly TimeSpan StripeKeepsEvents = TimeSpan.FromDays(30);

    private const string NewestSeenSql = "SELECT max(created) FROM stripe_events WHERE created > 0;";

    /// <summary>Applies the missed events; returns how many there were. Throws when Stripe cannot be read (nothing is skipped silently).</summary>
    public async Task<int> CatchUpAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        long? newestSeen;
        await using (var connection = await db.OpenAsync(ct))
            newestSeen = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(NewestSeenSql, cancellationToken: ct));
        var caughtUpTo = long.TryParse(await settings.GetAsync(CaughtUpToKey, ct), out var stored) ? stored : (long?)null;
        var oldest = now - StripeKeepsEvents;
        var since = (caughtUpTo ?? newestSeen) is { } mark
            ? DateTimeOffset.FromUnixTimeSeconds(mark) - TimeSpan.FromMinutes(options.Value.CatchUpOverlapMinutes)
            : oldest;
        if (since < oldest)
            since = oldest;

        var listed = await stripe.ListEventsSinceAsync(since.UtcDateTime, StripeEventApplier.HandledEvents, ct);
        var applied = 0;
        foreach (var stripeEvent in listed.OrderBy(e => e.Created).ThenBy(e => e.Id, StringComparer.Ordinal))
        {
            if (await webhooks.ApplyMissedAsync(stripeEvent, ct))
            {
                applied++;
                logger.LogWarning(BillingLogEvents.MissedEventApplied, "Stripe event {StripeEventId} ({StripeEventType}) never arrived as a webhook; applied from Stripe's event list",
                    stripeEvent.Id, stripeEvent.Type);
            }
        }
        var newest = listed.Count == 0 ? since.ToUnixTimeSeconds() : listed.Max(e => new DateTimeOffset(e.Created, TimeSpan.Zero).ToUnixTimeSeconds());
        if (caughtUpTo is null || newest > caughtUpTo)
            await settings.SetAsync(new Dictionary<string, string> { [CaughtUpToKey] = newest.ToString(System.Globalization.CultureInfo.InvariantCulture) }, ct);
        return applied;
    }
}
