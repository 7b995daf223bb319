using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Operations;
using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Features.Emails;

/// <summary>
/// Renders an <see cref="Email"/> from its templates and sends it. <see cref="SendOnceAsync{TEmail}"/> is for an email about an
/// event (a payment, a subscription change): one row of <c>sent_emails</c> per (kind, reference) makes it go out once however
/// often the webhook is replayed or the job runs. Call it from a Hangfire job, never inside a write transaction.
/// </summary>
public sealed class Mailer(EmailTemplates templates, IMailSender sender, Db db, UserManager<IdentityUser> users, TimeProvider clock, AppMetrics metrics, ILogger<Mailer> logger)
{
    /// <summary>
    /// How long a claim holds without the mail being marked sent before another run may take it: a run that died mid-send
    /// (a crash, a killed process) does not keep the email from ever going out. Longer than any SMTP timeout.
    /// </summary>
    public static readonly TimeSpan ClaimLifetime = TimeSpan.FromMinutes(15);

    /// <summary>Sends <paramref name="email"/> to <paramref name="to"/> now, whether or not the same one went out before (an operator's email, about no account).</summary>
    public Task SendAsync(string to, Email email, CancellationToken ct = default) => SendAsync(to, email, null, ct);

    private const string LogSql = """
        INSERT INTO email_log (user_id, kind, subject, sent_to, sent_at) VALUES (@userId, @kind, @subject, @to, @now);
        """;

    /// <summary>
    /// Sends <paramref name="email"/> to <paramref name="to"/> now, whether or not the same one went out before, and, once the
    /// relay took it, records it in <c>email_log</c> for the account <paramref name="userId"/> (the admin's customer timeline).
    /// A failure to record is logged and not thrown: the mail went out, and a retry would send it twice.
    /// </summary>
    public async Task SendAsync(string to, Email email, string? userId, CancellationToken ct = default)
    {
        MailMessage message;
        try
        {
            message = templates.Render(email, to);
            await sender.SendAsync(message, ct);
            metrics.EmailsSent.WithLabels(email.TemplateName, "sent").Inc();
        }
        catch
        {
            metrics.EmailsSent.WithLabels(email.TemplateName, "failed").Inc();
            throw;
        }
        if (userId is null)
            return;
        try
        {
            await db.ExecuteAsync(LogSql, new { userId, kind = email.TemplateName, subject = message.Subject, to, now = clock.GetUtcNow().UtcDateTime }, CancellationToken.None);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Email {EmailKind} sent to user {UserId} but not recorded in the email log", email.TemplateName, userId);
        }
    }

    private const string ClaimSql = """
        INSERT INTO sent_emails (kind, reference, user_id, claimed_at) VALUES (@kind, @reference, @userId, @now)
        ON CONFLICT (kind, reference) DO UPDATE SET claimed_at = excluded.claimed_at
        WHERE sent_emails.sent_at IS NULL AND (sent_emails.claimed_at IS NULL OR sent_emails.claimed_at < @stale)
        RETURNING 1;
        """;

    private const string SentSql = "UPDATE sent_emails SET sent_at = @now WHERE kind = @kind AND reference = @reference;";

    private const string ReleaseSql = "UPDATE sent_emails SET claimed_at = NULL WHERE kind = @kind AND reference = @reference AND sent_at IS NULL;";

    private const string ForgetSql = "DELETE FROM sent_emails WHERE kind = @kind AND reference = @reference AND sent_at IS NULL;";

    /// <summary>
    /// Sends the email of kind <typeparamref name="TEmail"/> about <paramref name="reference"/> (a Stripe object id, a notice id)
    /// to the user's address, once: true when this call sent it. The row is claimed first, so two runs at once send one mail;
    /// a failed send gives the claim back and throws (let Hangfire retry). <paramref name="compose"/> runs only for the run that
    /// holds the claim; when it answers null there is nothing to say (the event no longer holds) and no row is kept.
    /// </summary>
    public async Task<bool> SendOnceAsync<TEmail>(string reference, string userId, Func<CancellationToken, Task<TEmail?>> compose, CancellationToken ct = default)
        where TEmail : Email
    {
        var kind = typeof(TEmail).Name;
        var now = clock.GetUtcNow().UtcDateTime;
        var claimed = await db.ExecuteScalarAsync<long?>(ClaimSql, new { kind, reference, userId, now, stale = now - ClaimLifetime }, ct);
        if (claimed is null)
        {
            logger.LogInformation("Email {EmailKind} for {Reference} already sent or being sent; skipped", kind, reference);
            return false;
        }
        try
        {
            var email = await compose(ct);
            if (email is null || await users.FindByIdAsync(userId) is not { Email: { } to })
            {
                await db.ExecuteAsync(ForgetSql, new { kind, reference }, CancellationToken.None);
                return false;
            }
            await SendAsync(to, email, userId, ct);
        }
        catch
        {
            await db.ExecuteAsync(ReleaseSql, new { kind, reference }, CancellationToken.None);
            throw;
        }
        await db.ExecuteAsync(SentSql, new { kind, reference, now = clock.GetUtcNow().UtcDateTime }, CancellationToken.None);
        logger.LogInformation("Email {EmailKind} for {Reference} sent to {UserId}", kind, reference, userId);
        return true;
    }
}
