using System.ComponentModel.DataAnnotations;
using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing.Webhooks;
using Stripe;

namespace GenSaaS.Web.Features.Billing;

/// <summary>The <c>Billing:Reconciliation</c> section: the daily comparison of the app's money with Stripe's.</summary>
public sealed class ReconciliationOptions
{
    /// <summary>When the daily run reconciles the previous UTC day (cron, UTC).</summary>
    [Required] public string Cron { get; set; } = "30 2 * * *";

    /// <summary>A hold whose generation finished longer ago than this and that is still neither captured nor cancelled is reported as <c>hold_open</c>.</summary>
    [Range(1, 10_080)] public int HoldGraceMinutes { get; set; } = 60;

    /// <summary>How far before the newest event already seen the catch-up lists Stripe's events again (events of the same second, late deliveries).</summary>
    [Range(0, 1440)] public int CatchUpOverlapMinutes { get; set; } = 10;
}

/// <summary>The kinds of an unmatched line: where the app and Stripe disagree, or the app disagrees with itself.</summary>
public static class ReconciliationKinds
{
    public const string MissingHere = "missing_here";
    public const string MissingAtStripe = "missing_at_stripe";
    public const string AmountDiffers = "amount_differs";
    public const string StateDiffers = "state_differs";
    public const string HoldOpen = "hold_open";
    public const string GrantWithoutPayment = "grant_without_payment";
    public const string GenerationWithoutFunding = "generation_without_funding";

    public static readonly IReadOnlyList<string> All =
        [MissingHere, MissingAtStripe, AmountDiffers, StateDiffers, HoldOpen, GrantWithoutPayment, GenerationWithoutFunding];
}

/// <summary>One unmatched line of a run.</summary>
public sealed record ReconciliationLine(
    string Kind, string Object, string Currency, string? StripeId, string? AppReference, string? UserId,
    long? StripeAmountMinor, long? AppAmountMinor, string? StripeState, string? AppState, string Detail);

/// <summary>A run's totals in one currency, in minor units: Stripe's from balance transactions, the app's from its payments.</summary>
public sealed record ReconciliationTotals(
    string Currency, long GrossMinor, long RefundsMinor, long FeesMinor, long NetMinor, long AppRevenueMinor, long DifferenceMinor, long Matched, long Differences);

/// <summary>A run of the reconciliation, as stored.</summary>
public sealed record ReconciliationRun(
    long Id, DateTime PeriodFrom, DateTime PeriodTo, string Trigger, string? RequestedBy, string Status, long Matched, long Differences,
    long EventsCaughtUp, string? Error, DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt)
{
    /// <summary>The last day of the period (the period ends at the start of the next one).</summary>
    public DateOnly LastDay => DateOnly.FromDateTime(PeriodTo.AddDays(-1));

    public DateOnly FirstDay => DateOnly.FromDateTime(PeriodFrom);
}

/// <summary>
/// Compares, per currency and period, what the app recorded (<c>payments</c>: bundles, subscription invoices, pay-per-use
/// captures, refunds; <c>usage_charges</c>; credit grants and generations) with what Stripe did (charges, refunds,
/// invoices and balance transactions created in the period, listed page by page). Each Stripe charge or refund is matched
/// by id to the app's row (a charge through its PaymentIntent: a bundle's, a pay-per-use hold's, or an invoice's), each of
/// the app's rows of the period to Stripe's object; a match with another amount or state, or no match, is a line.
/// Before comparing, events Stripe sent that never arrived are applied (<see cref="MissedEvents"/>). Stripe not answering
/// fails the run (status <c>failed</c> with the error): a run never says "matched" without having read Stripe.
/// </summary>
public sealed class Reconciler(
    Db db,
    StripeGateway stripe,
    MissedEvents missedEvents,
    ReconciliationRuns runs,
    Microsoft.Extensions.Options.IOptions<ReconciliationOptions> options,
    TimeProvider clock,
    ILogger<Reconciler> logger)
{
    /// <summary>Runs the queued run <paramref name="runId"/>; a run already started or finished is left alone (a job may run twice).</summary>
    public async Task<ReconciliationRun?> RunAsync(long runId, CancellationToken ct)
    {
        if (!await runs.StartAsync(runId, ct))
            return await runs.FindAsync(runId, ct);
        var run = (await runs.FindAsync(runId, ct))!;
        try
        {
            var caughtUp = await missedEvents.CatchUpAsync(ct);
            var result = await CompareAsync(run.PeriodFrom, run.PeriodTo, ct);
            await runs.CompleteAsync(runId, caughtUp, result.Lines, result.Totals, result.Matched, ct);
            var done = (await runs.FindAsync(runId, ct))!;
            if (done.Differences > 0)
                logger.LogError(BillingLogEvents.ReconciliationDifferences,
                    "Reconciliation run {RunId} ({From:yyyy-MM-dd} to {To:yyyy-MM-dd}) found {Differences} differences with Stripe ({Matched} matched); see /admin/reconciliation/{RunId}",
                    runId, done.FirstDay, done.LastDay, done.Differences, done.Matched, runId);
            else
                logger.LogInformation(BillingLogEvents.ReconciliationMatched, "Reconciliation run {RunId}: all {Matched} lines match Stripe; {Events} missed events applied",
                    runId, done.Matched, caughtUp);
            return done;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            var reason = StripeGateway.IsUnavailable(ex, ct)
                ? $"Stripe could not be reached: {ex.Message}"
                : ex is StripeException stripeError ? $"Stripe refused a request: {stripeError.StripeError?.Message ?? ex.Message}" : ex.Message;
            logger.LogError(BillingLogEvents.ReconciliationFailed, ex, "Reconciliation run {RunId} failed: {Reason}", runId, reason);
            await runs.FailAsync(runId, reason, CancellationToken.None);
            return await runs.FindAsync(runId, CancellationToken.None);
        }
    }

    private sealed record Comparison(List<ReconciliationLine> Lines, List<ReconciliationTotals> Totals, int Matched);

    private sealed record AppPayment(string Kind, string StripeId, string? PaymentIntentId, string? ChargeId, string? UserId, long AmountMinor, string Currency, string Status, DateTime CreatedAt);

    private sealed record AppHold(string UsageId, string UserId, string? PaymentIntentId, string State, long AmountMinor, string Currency, string UsageState, DateTime UpdatedAt, DateTime CreatedAt);

    private const string PaymentsByIntentSql = """
        SELECT kind, stripe_id AS StripeId, payment_intent_id AS PaymentIntentId, charge_id AS ChargeId, user_id AS UserId,
               amount_minor AS AmountMinor, currency, status, created_at AS CreatedAt
        FROM payments WHERE payment_intent_id = @id AND kind IN ('bundle', 'capture');
        """;

    private const string PaymentByStripeIdSql = """
        SELECT kind, stripe_id AS StripeId, payment_intent_id AS PaymentIntentId, charge_id AS ChargeId, user_id AS UserId,
               amount_minor AS AmountMinor, currency, status, created_at AS CreatedAt
        FROM payments WHERE kind = @kind AND stripe_id = @id;
        """;

    private const string HoldByIntentSql = """
        SELECT c.usage_id AS UsageId, c.user_id AS UserId, c.payment_intent_id AS PaymentIntentId, c.state, c.amount_minor AS AmountMinor,
               c.currency, u.state AS UsageState, c.updated_at AS UpdatedAt, c.created_at AS CreatedAt
        FROM usage_charges AS c JOIN usage AS u ON u.id = c.usage_id
        WHERE c.payment_intent_id = @id;
        """;

    private const string PeriodPaymentsSql = """
        SELECT kind, stripe_id AS StripeId, payment_intent_id AS PaymentIntentId, charge_id AS ChargeId, user_id AS UserId,
               amount_minor AS AmountMinor, currency, status, created_at AS CreatedAt
        FROM payments
        WHERE created_at >= @from AND created_at < @to AND kind IN ('bundle', 'subscription_invoice', 'capture', 'refund')
        ORDER BY id;
        """;

    private const string PeriodHoldsSql = """
        SELECT c.usage_id AS UsageId, c.user_id AS UserId, c.payment_intent_id AS PaymentIntentId, c.state, c.amount_minor AS AmountMinor,
               c.currency, u.state AS UsageState, c.updated_at AS UpdatedAt, c.created_at AS CreatedAt
        FROM usage_charges AS c JOIN usage AS u ON u.id = c.usage_id
        WHERE c.created_at >= @from AND c.created_at < @to
        ORDER BY c.created_at;
        """;

    // Bundles grant with the Checkout Session as reference; a grant by the system that no payment names was not paid for.
    private const string GrantsWithoutPaymentSql = """
        SELECT l.id AS Id, l.user_id AS UserId, l.amount AS Amount, l.reference AS Reference, l.reason AS Reason
        FROM credit_ledger AS l
        WHERE l.kind = 'grant' AND l.bucket = 'prepaid' AND l.actor = 'system'
          AND l.created_at >= @from AND l.created_at < @to
          AND NOT EXISTS (SELECT 1 FROM payments AS p
                          WHERE (p.stripe_id = l.reference OR p.payment_intent_id = l.reference) AND p.status IN ('paid', 'succeeded'))
        ORDER BY l.id;
        """;

    // A succeeded generation is funded by a debit of credits, a subscription the app knows, or a pay-per-use charge that was
    // captured (or is still held: that is a hold_open line, not this one).
    private const string UnfundedGenerationsSql = """
        SELECT u.id AS UsageId, u.user_id AS UserId, u.funding_source AS FundingSource, u.amount_minor AS AmountMinor,
               c.state AS ChargeState, c.currency AS Currency
        FROM usage AS u
        LEFT JOIN usage_charges AS c ON c.usage_id = u.id
        WHERE u.state = 'succeeded' AND u.created_at >= @from AND u.created_at < @to
          AND CASE u.funding_source
                WHEN 'pay_per_use' THEN c.state IS NULL OR c.state IN ('failed', 'canceled')
                WHEN 'subscription' THEN NOT EXISTS (SELECT 1 FROM subscriptions AS s WHERE s.stripe_subscription_id = u.subscription_id)
                ELSE NOT EXISTS (SELECT 1 FROM credit_ledger AS l WHERE l.kind = 'debit' AND l.reference = u.id)
                     OR EXISTS (SELECT 1 FROM credit_ledger AS l WHERE l.kind = 'release' AND l.reference = u.id)
              END
        ORDER BY u.created_at;
        """;

    private sealed record UnpaidGrant(long Id, string UserId, long Amount, string? Reference, string Reason);

    private sealed record UnfundedGeneration(string UsageId, string UserId, string FundingSource, long? AmountMinor, string? ChargeState, string? Currency);

    private async Task<List<T>> QueryAsync<T>(string sql, object args, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<T>(new CommandDefinition(sql, args, cancellationToken: ct))).ToList();
    }

    /// <summary>Stripe's state of a charge as the app speaks of holds: captured, authorised (held) or canceled (released).</summary>
    private static string HoldState(Charge charge) => charge.Captured ? "captured" : charge.Refunded ? "canceled" : "authorised";

    private async Task<Comparison> CompareAsync(DateTime from, DateTime to, CancellationToken ct)
    {
        var lines = new List<ReconciliationLine>();
        var matched = new Dictionary<string, int>(StringComparer.Ordinal);
        void Match(string currency) => matched[currency] = matched.GetValueOrDefault(currency) + 1;
        var now = clock.GetUtcNow().UtcDateTime;
        var grace = TimeSpan.FromMinutes(options.Value.HoldGraceMinutes);

        // What Stripe did in the period; all read before anything is compared, so a Stripe failure fails the run early.
        var charges = await stripe.ListChargesAsync(from, to, ct);
        var refunds = await stripe.ListRefundsCreatedAsync(from, to, ct);
        var invoices = await stripe.ListPaidInvoicesAsync(from, to, ct);
        var balance = await stripe.ListBalanceTransactionsAsync(from, to, ct);

        var seenPayments = new HashSet<string>(StringComparer.Ordinal); // "kind:stripe id" of app rows already compared
        var seenHolds = new HashSet<string>(StringComparer.Ordinal);    // usage ids already compared or reported
        var seenInvoices = new HashSet<string>(StringComparer.Ordinal);

        foreach (var charge in charges.Where(c => c.Status == "succeeded"))
        {
            var currency = charge.Currency;
            var intentId = charge.PaymentIntentId;
            var hold = intentId is null ? null : (await QueryAsync<AppHold>(HoldByIntentSql, new { id = intentId }, ct)).FirstOrDefault();
            if (hold is not null)
            {
                seenHolds.Add(hold.UsageId);
                seenPayments.Add("capture:" + intentId);
                var stripeState = HoldState(charge);
                if (stripeState == hold.State)
                {
                    if (stripeState == "captured" && charge.AmountCaptured != hold.AmountMinor)
                        lines.Add(new(ReconciliationKinds.AmountDiffers, "capture", currency, charge.Id, hold.UsageId, hold.UserId, charge.AmountCaptured, hold.AmountMinor,
                            stripeState, hold.State, $"Pay-per-use charge {charge.Id} captured {charge.AmountCaptured} at Stripe, {hold.AmountMinor} here"));
                    else if (stripeState == "authorised" && hold.UsageState != "reserved" && now - hold.UpdatedAt > grace)
                        lines.Add(new(ReconciliationKinds.HoldOpen, "capture", currency, charge.Id, hold.UsageId, hold.UserId, charge.Amount, hold.AmountMinor,
                            stripeState, hold.State, $"Hold {intentId} of a generation that {hold.UsageState} is still open, neither captured nor cancelled"));
                    else
                        Match(currency);
                }
                else if (stripeState == "authorised" && hold.State is "pending" && hold.UsageState == "reserved")
                    Match(currency); // placed a moment ago; its webhook is on its way
                else
                    lines.Add(new(ReconciliationKinds.StateDiffers, "capture", currency, charge.Id, hold.UsageId, hold.UserId, charge.AmountCaptured, hold.AmountMinor,
                        stripeState, hold.State, $"Pay-per-use charge {charge.Id} is {stripeState} at Stripe, {hold.State} here"));
                continue;
            }

            var bundle = intentId is null ? null : (await QueryAsync<AppPayment>(PaymentsByIntentSql, new { id = intentId }, ct)).FirstOrDefault(p => p.Kind == "bundle");
            if (bundle is not null)
            {
                seenPayments.Add("bundle:" + bundle.StripeId);
                var stripeState = charge.Captured ? "paid" : "authorised";
                if (bundle.Status != "paid" || !charge.Captured)
                    lines.Add(new(ReconciliationKinds.StateDiffers, "bundle", currency, charge.Id, bundle.StripeId, bundle.UserId, charge.AmountCaptured, bundle.AmountMinor,
                        stripeState, bundle.Status, $"Bundle payment {charge.Id} is {stripeState} at Stripe, {bundle.Status} here"));
                else if (charge.AmountCaptured != bundle.AmountMinor || !string.Equals(bundle.Currency, currency, StringComparison.OrdinalIgnoreCase))
                    lines.Add(new(ReconciliationKinds.AmountDiffers, "bundle", currency, charge.Id, bundle.StripeId, bundle.UserId, charge.AmountCaptured, bundle.AmountMinor,
                        "paid", bundle.Status, $"Bundle payment {charge.Id} is {charge.AmountCaptured} {currency} at Stripe, {bundle.AmountMinor} {bundle.Currency} here"));
                else
                    Match(currency);
                continue;
            }

            var invoicePayment = intentId is null ? null : await stripe.FindInvoicePaymentAsync(intentId, ct);
            if (invoicePayment?.InvoiceId is { } invoiceId)
            {
                seenInvoices.Add(invoiceId);
                var row = (await QueryAsync<AppPayment>(PaymentByStripeIdSql, new { kind = "subscription_invoice", id = invoiceId }, ct)).FirstOrDefault();
                if (row is null)
                {
                    lines.Add(new(ReconciliationKinds.MissingHere, "invoice", currency, invoiceId, null, null, charge.AmountCaptured, null,
                        "paid", null, $"Invoice {invoiceId} was paid at Stripe (charge {charge.Id}); the app has no record of it"));
                    continue;
                }
                seenPayments.Add("subscription_invoice:" + invoiceId);
                if (charge.AmountCaptured != row.AmountMinor)
                    lines.Add(new(ReconciliationKinds.AmountDiffers, "invoice", currency, invoiceId, invoiceId, row.UserId, charge.AmountCaptured, row.AmountMinor,
                        "paid", row.Status, $"Invoice {invoiceId} was charged {charge.AmountCaptured} at Stripe (charge {charge.Id}), {row.AmountMinor} here"));
                else
                    Match(currency);
                continue;
            }

            lines.Add(new(ReconciliationKinds.MissingHere, "charge", currency, charge.Id, null, await UserOfCustomerAsync(charge.CustomerId, ct),
                charge.AmountCaptured > 0 ? charge.AmountCaptured : charge.Amount, null, HoldState(charge) == "captured" ? "paid" : HoldState(charge), null,
                $"Charge {charge.Id} ({charge.Description ?? "no description"}) at Stripe matches no payment here"));
        }

        foreach (var invoice in invoices.Where(i => i.AmountPaid > 0 && !seenInvoices.Contains(i.Id)))
        {
            seenInvoices.Add(invoice.Id);
            var row = (await QueryAsync<AppPayment>(PaymentByStripeIdSql, new { kind = "subscription_invoice", id = invoice.Id }, ct)).FirstOrDefault();
            seenPayments.Add("subscription_invoice:" + invoice.Id);
            if (row is null)
                lines.Add(new(ReconciliationKinds.MissingHere, "invoice", invoice.Currency, invoice.Id, null, await UserOfCustomerAsync(invoice.CustomerId, ct), invoice.AmountPaid, null,
                    invoice.Status, null, $"Invoice {invoice.Id} was paid at Stripe; the app has no record of it"));
            else if (row.AmountMinor != invoice.AmountPaid)
                lines.Add(new(ReconciliationKinds.AmountDiffers, "invoice", invoice.Currency, invoice.Id, invoice.Id, row.UserId, invoice.AmountPaid, row.AmountMinor,
                    invoice.Status, row.Status, $"Invoice {invoice.Id} paid {invoice.AmountPaid} at Stripe, {row.AmountMinor} here"));
            else
                Match(invoice.Currency);
        }

        foreach (var refund in refunds.Where(r => r.Status is "succeeded" or "pending"))
        {
            var currency = refund.Currency;
            var row = (await QueryAsync<AppPayment>(PaymentByStripeIdSql, new { kind = "refund", id = refund.Id }, ct)).FirstOrDefault();
            seenPayments.Add("refund:" + refund.Id);
            if (row is null)
                lines.Add(new(ReconciliationKinds.MissingHere, "refund", currency, refund.Id, null, await UserOfCustomerAsync(refund.Charge?.CustomerId ?? await CustomerOfChargeAsync(refund.ChargeId, ct), ct),
                    refund.Amount, null, refund.Status, null, $"Refund {refund.Id} of charge {refund.ChargeId} at Stripe is not recorded here"));
            else if (row.AmountMinor != refund.Amount)
                lines.Add(new(ReconciliationKinds.AmountDiffers, "refund", currency, refund.Id, refund.Id, row.UserId, refund.Amount, row.AmountMinor,
                    refund.Status, row.Status, $"Refund {refund.Id} is {refund.Amount} at Stripe, {row.AmountMinor} here"));
            else
                Match(currency);
        }

        // The app's own rows of the period that Stripe's lists did not name: looked up one by one, since Stripe may have
        // made them just outside the period (then the other period's run compares them).
        var appPayments = await QueryAsync<AppPayment>(PeriodPaymentsSql, new { from, to }, ct);
        foreach (var row in appPayments)
        {
            if (row.Kind == "bundle" && row.Status != "paid")
                continue;
            var key = row.Kind == "capture" ? "capture:" + row.PaymentIntentId : $"{row.Kind}:{row.StripeId}";
            if (!seenPayments.Add(key))
                continue;
            var (exists, state) = await StripeStateAsync(row, ct);
            if (!exists)
                lines.Add(new(ReconciliationKinds.MissingAtStripe, ObjectOf(row.Kind), row.Currency, row.ChargeId ?? row.PaymentIntentId ?? row.StripeId, row.StripeId, row.UserId,
                    null, row.AmountMinor, null, row.Status, $"{Describe(row.Kind)} {row.StripeId} recorded here ({row.AmountMinor} {row.Currency}) does not exist at Stripe"));
            else if (state is not null)
                lines.Add(new(ReconciliationKinds.StateDiffers, ObjectOf(row.Kind), row.Currency, row.PaymentIntentId ?? row.StripeId, row.StripeId, row.UserId,
                    null, row.AmountMinor, state, row.Status, $"{Describe(row.Kind)} {row.StripeId} is {row.Status} here but {state} at Stripe"));
        }

        foreach (var hold in await QueryAsync<AppHold>(PeriodHoldsSql, new { from, to }, ct))
        {
            if (seenHolds.Contains(hold.UsageId))
                continue;
            if (hold.State is "pending" or "authorised" && hold.UsageState != "reserved" && now - hold.UpdatedAt > grace)
            {
                seenHolds.Add(hold.UsageId);
                lines.Add(new(ReconciliationKinds.HoldOpen, "capture", hold.Currency, hold.PaymentIntentId, hold.UsageId, hold.UserId, null, hold.AmountMinor,
                    null, hold.State, $"Hold {hold.PaymentIntentId ?? "(never placed)"} of a generation that {hold.UsageState} is still {hold.State} here"));
            }
        }

        foreach (var grant in await QueryAsync<UnpaidGrant>(GrantsWithoutPaymentSql, new { from, to }, ct))
            lines.Add(new(ReconciliationKinds.GrantWithoutPayment, "credit_grant", "", null, grant.Reference ?? $"ledger:{grant.Id}", grant.UserId, null, null,
                null, "granted", $"{grant.Amount} credits granted by the system ({grant.Reason}, ledger line {grant.Id}) with no paid payment for {grant.Reference ?? "no reference"}"));

        foreach (var usage in await QueryAsync<UnfundedGeneration>(UnfundedGenerationsSql, new { from, to }, ct))
        {
            if (seenHolds.Contains(usage.UsageId) && usage.ChargeState is not null && lines.Any(l => l.AppReference == usage.UsageId))
                continue; // already one line for this generation's charge
            lines.Add(new(ReconciliationKinds.GenerationWithoutFunding, "usage", usage.Currency ?? "", null, usage.UsageId, usage.UserId, null, usage.AmountMinor,
                null, usage.ChargeState ?? usage.FundingSource, usage.FundingSource switch
                {
                    "pay_per_use" => $"Generation {usage.UsageId} succeeded on pay per use but its charge is {usage.ChargeState ?? "missing"}",
                    "subscription" => $"Generation {usage.UsageId} succeeded on a subscription the app does not know",
                    _ => $"Generation {usage.UsageId} succeeded on {usage.FundingSource} credits without a debit in the ledger",
                }));
        }

        return new Comparison(lines, Totals(lines, balance, appPayments, matched), matched.Values.Sum());
    }

    private static List<ReconciliationTotals> Totals(List<ReconciliationLine> lines, List<BalanceTransaction> balance, List<AppPayment> appPayments, Dictionary<string, int> matched)
    {
        var currencies = balance.Select(t => t.Currency).Concat(appPayments.Select(p => p.Currency)).Concat(matched.Keys)
            .Concat(lines.Select(l => l.Currency)).Where(c => c.Length > 0).Select(c => c.ToLowerInvariant()).Distinct().Order(StringComparer.Ordinal);
        var totals = new List<ReconciliationTotals>();
        foreach (var currency in currencies)
        {
            var txns = balance.Where(t => t.Currency == currency).ToList();
            var gross = txns.Where(t => t.ReportingCategory is "charge" or "partial_capture_reversal").Sum(t => t.Amount);
            var refunded = -txns.Where(t => t.ReportingCategory == "refund").Sum(t => t.Amount);
            var fees = txns.Sum(t => t.Fee);
            var net = txns.Sum(t => t.Net);
            var rows = appPayments.Where(p => string.Equals(p.Currency, currency, StringComparison.OrdinalIgnoreCase)).ToList();
            var appRevenue = rows.Where(p => p.Kind is "subscription_invoice" or "capture" || (p.Kind == "bundle" && p.Status == "paid")).Sum(p => p.AmountMinor)
                - rows.Where(p => p.Kind == "refund").Sum(p => p.AmountMinor);
            var differences = lines.Count(l => string.Equals(l.Currency, currency, StringComparison.OrdinalIgnoreCase));
            totals.Add(new ReconciliationTotals(currency, gross, refunded, fees, net, appRevenue, gross - refunded - appRevenue,
                matched.GetValueOrDefault(currency), differences));
        }
        return totals;
    }

    private static string ObjectOf(string kind) => kind switch { "subscription_invoice" => "invoice", var other => other };

    private static string Describe(string kind) => kind switch
    {
        "bundle" => "Bundle payment",
        "subscription_invoice" => "Invoice",
        "capture" => "Pay-per-use capture",
        _ => "Refund",
    };

    /// <summary>Whether Stripe has the app's object, and, when the two disagree, Stripe's state (null: they agree).</summary>
    private async Task<(bool Exists, string? State)> StripeStateAsync(AppPayment row, CancellationToken ct)
    {
        try
        {
            switch (row.Kind)
            {
                case "bundle":
                case "capture":
                {
                    var intent = await stripe.GetPaymentIntentAsync(row.PaymentIntentId ?? row.StripeId, ct);
                    return (true, intent.Status == "succeeded" ? null : intent.Status);
                }
                case "subscription_invoice":
                {
                    var invoice = await stripe.GetInvoiceAsync(row.StripeId, ct);
                    return (true, invoice.Status == "paid" ? null : invoice.Status);
                }
                default:
                {
                    var refund = await stripe.GetRefundAsync(row.StripeId, ct);
                    return (true, refund.Status is "succeeded" or "pending" ? null : refund.Status);
                }
            }
        }
        catch (StripeException ex) when (ex.StripeError?.Code == "resource_missing")
        {
            return (false, null);
        }
    }

    private const string UserOfCustomerSql = "SELECT user_id FROM billing_customers WHERE stripe_customer_id = @customerId;";

    private async Task<string?> UserOfCustomerAsync(string? customerId, CancellationToken ct)
    {
        if (customerId is null)
            return null;
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(UserOfCustomerSql, new { customerId }, cancellationToken: ct));
    }

    private async Task<string?> CustomerOfChargeAsync(string? chargeId, CancellationToken ct) =>
        chargeId is null ? null : (await stripe.GetChargeAsync(chargeId, ct)).CustomerId;
}
