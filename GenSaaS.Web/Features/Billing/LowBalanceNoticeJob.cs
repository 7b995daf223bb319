using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Emails;
using Hangfire;
using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// Emails the low-balance warning of one crossing (<c>low_balance_notices</c>, recorded by the reservation that crossed).
/// It claims the notice before sending and gives the claim back when the mail fails, so a crossing is told once.
/// </summary>
public sealed class LowBalanceNoticeJob(Db db, UserManager<IdentityUser> users, Mailer mailer, EmailLinks links,
    TimeProvider clock, ILogger<LowBalanceNoticeJob> logger)
{
    private const string ClaimSql = """
        UPDATE low_balance_notices SET sent_at = @now WHERE id = @noticeId AND sent_at IS NULL
        RETURNING user_id, threshold, balance;
        """;

    private const string ReleaseSql = "UPDATE low_balance_notices SET sent_at = NULL WHERE id = @noticeId;";

    private sealed record Claimed(string UserId, long Threshold, long Balance);

    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task SendAsync(long noticeId)
    {
        var claimed = await db.WriteAsync((connection, tx) =>
        {
            using var r = connection.Prepared(tx, ClaimSql, ("@noticeId", noticeId), ("@now", Db.FormatTime(clock.GetUtcNow().UtcDateTime))).ExecuteReader();
            return r.Read() ? new Claimed(r.GetString(0), r.GetInt64(1), r.GetInt64(2)) : null;
        });
        if (claimed is null)
            return;
        try
        {
            if (await users.FindByIdAsync(claimed.UserId) is not { Email: { } to })
                return;
            await mailer.SendAsync(to, new LowBalance(claimed.Threshold, claimed.Balance, links.Billing), claimed.UserId);
            logger.LogInformation("Low-balance notice {NoticeId} sent to {UserId}", noticeId, claimed.UserId);
        }
        catch
        {
            await db.ExecuteAsync(ReleaseSql, new { noticeId });
            throw;
        }
    }
}
