using System.Globalization;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Credits;

namespace GenSaaS.Web.Features.Admin;

public enum AdjustStatus { Applied, Replayed, Conflict, BelowZero }

/// <summary>
/// What an adjustment came to. <see cref="Balance"/> is the bucket's balance afterwards (or, refused below zero, as it stays);
/// <see cref="LedgerLineId"/> the line written (or, replayed, the one the first request wrote).
/// </summary>
public sealed record AdjustOutcome(AdjustStatus Status, long Trial, long Prepaid, long Balance, long? LedgerLineId, long? AuditId, string? Message = null);

/// <summary>
/// Grants or takes back credits for an admin or an operator: one ledger line of kind <c>adjustment</c> (the actor as its
/// actor) and one audit entry with the balances before and after, in one write transaction. Keyed by a reference the caller
/// makes once per intent (a form's token, an API <c>Idempotency-Key</c>), so a repeated submit changes nothing again.
/// </summary>
public sealed class CreditAdjustments(Db db, CreditLedger ledger, AuditLog audit)
{
    /// <summary>The most one adjustment may move, either way.</summary>
    public const int MaxAmount = 1_000_000;

    /// <summary>The longest reason kept.</summary>
    public const int MaxReasonLength = 500;

    public sealed record Balances(long Trial, long Prepaid);

    public async Task<AdjustOutcome> AdjustAsync(AuditActor actor, string userId, CreditBucket bucket, int amount, string reason, string reference,
        CancellationToken ct = default)
    {
        if (amount == 0 || Math.Abs(amount) > MaxAmount)
            throw new ArgumentOutOfRangeException(nameof(amount), $"An adjustment moves 1 to {MaxAmount} credits either way");
        reason = reason.Trim();
        if (reason.Length is 0 or > MaxReasonLength)
            throw new ArgumentException($"A reason of 1 to {MaxReasonLength} characters is required", nameof(reason));

        AdjustOutcome outcome;
        try
        {
            outcome = await db.WriteAsync((connection, tx) =>
            {
                // The balance row (with any trial credits) exists first, so "before" is what the customer had.
                ledger.EnsureAccount(connection, tx, userId);
                var before = Read(connection, tx, userId);
                // Below zero throws: the whole unit, the new balance row included, is undone.
                var result = ledger.Adjust(connection, tx, userId, bucket, amount, reason, reference, actor.Id);
                if (result.Conflict)
                    return new AdjustOutcome(AdjustStatus.Conflict, before.Trial, before.Prepaid, Bucket(before, bucket), result.Line.EntryId, null,
                        "This request's key was already used for a different adjustment.");
                if (result.Replayed)
                    return new AdjustOutcome(AdjustStatus.Replayed, before.Trial, before.Prepaid, Bucket(before, bucket), result.Line.EntryId, null);

                var after = Read(connection, tx, userId);
                var auditId = audit.Append(connection, tx, actor, AuditActions.CreditsAdjust, userId, reason, before,
                    new
                    {
                        after.Trial,
                        after.Prepaid,
                        Bucket = CreditLedger.BucketName(bucket),
                        Amount = amount,
                        LedgerLineId = Billing.BillingApi.LedgerIdPrefix + result.Line.EntryId!.Value.ToString(CultureInfo.InvariantCulture),
                    });
                return new AdjustOutcome(AdjustStatus.Applied, after.Trial, after.Prepaid, result.Line.BalanceAfter, result.Line.EntryId, auditId);
            }, ct);
        }
        catch (InsufficientCreditsException ex)
        {
            return new AdjustOutcome(AdjustStatus.BelowZero, 0, 0, ex.Balance, null, null, ex.Message);
        }
        if (outcome.Status == AdjustStatus.Applied)
            ledger.LogAdjustment(userId, bucket, amount, actor.Id, reason, reference);
        return outcome;
    }

    private static Balances Read(Microsoft.Data.Sqlite.SqliteConnection connection, Microsoft.Data.Sqlite.SqliteTransaction tx, string userId) =>
        CreditLedger.ReadBalance(connection, tx, userId) is { } b ? new Balances(b.Trial, b.Prepaid) : new Balances(0, 0);

    private static long Bucket(Balances b, CreditBucket bucket) => bucket == CreditBucket.Trial ? b.Trial : b.Prepaid;
}
