using System.Text.Json;
using GenSaaS.Web.Data;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;

namespace GenSaaS.Web.Features.Emails;

/// <summary>One rendered email: the plain-text part and the HTML part of the same message.</summary>
public sealed record MailMessage(string To, string Subject, string Text, string Html);

/// <summary>Where rendered mail goes: an SMTP relay, or the development outbox when none is configured.</summary>
public interface IMailSender
{
    Task SendAsync(MailMessage message, CancellationToken ct = default);
}

/// <summary>Sends through the configured SMTP relay with MailKit, as <c>multipart/alternative</c> (text first, then HTML).</summary>
public sealed class SmtpMailSender(IOptions<EmailOptions> options, ILogger<SmtpMailSender> logger) : IMailSender
{
    public async Task SendAsync(MailMessage mail, CancellationToken ct = default)
    {
        var settings = options.Value;
        var smtp = settings.Smtp;
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(settings.From));
        message.To.Add(MailboxAddress.Parse(mail.To));
        message.Subject = mail.Subject;
        // BodyBuilder makes multipart/alternative with the text part first: clients show the last part they understand.
        message.Body = new BodyBuilder { TextBody = mail.Text, HtmlBody = mail.Html }.ToMessageBody();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(smtp.TimeoutSeconds));
        using var client = new SmtpClient { Timeout = smtp.TimeoutSeconds * 1000 };
        var security = smtp.Security switch
        {
            SmtpSecurity.None => SecureSocketOptions.None,
            SmtpSecurity.StartTls => SecureSocketOptions.StartTls,
            SmtpSecurity.SslOnConnect => SecureSocketOptions.SslOnConnect,
            _ => SecureSocketOptions.Auto,
        };
        var host = smtp.Host ?? throw new InvalidOperationException("Email:Smtp:Host is not configured");
        await client.ConnectAsync(host, smtp.Port, security, timeout.Token);
        if (!string.IsNullOrEmpty(smtp.UserName))
            await client.AuthenticateAsync(smtp.UserName, smtp.Password ?? "", timeout.Token);
        await client.SendAsync(message, timeout.Token);
        await client.DisconnectAsync(quit: true, timeout.Token);
        logger.LogInformation("Sent email {Subject} to {Recipient} via {SmtpHost}", mail.Subject, mail.To, smtp.Host);
    }
}

/// <summary>One message kept by the development outbox. <see cref="TextBody"/> is null in messages kept before emails had a text part.</summary>
public sealed record OutboxMessage(string Id, string To, string Subject, string HtmlBody, DateTime SentAt, string? TextBody = null);

/// <summary>Without an SMTP relay, each message is written as a JSON file under the data folder's outbox.</summary>
public sealed class OutboxMailSender(AppPaths paths, TimeProvider clock, IHostEnvironment environment, ILogger<OutboxMailSender> logger) : IMailSender
{
    public async Task SendAsync(MailMessage mail, CancellationToken ct = default)
    {
        var sentAt = clock.GetUtcNow().UtcDateTime;
        // The id sorts by time, so listing the folder in reverse name order is newest first.
        var id = $"{sentAt:yyyyMMddHHmmssfffffff}-{Guid.NewGuid():N}";
        var message = new OutboxMessage(id, mail.To, mail.Subject, mail.Html, sentAt, mail.Text);
        // Written aside and then renamed, so the mailbox never reads a half-written message (mail comes from background jobs).
        var temporary = Path.Combine(paths.Outbox, id + ".tmp");
        await File.WriteAllTextAsync(temporary, JsonSerializer.Serialize(message), ct);
        File.Move(temporary, Path.Combine(paths.Outbox, id + ".json"));
        if (environment.IsDevelopment())
            logger.LogInformation("Wrote email {Subject} to {Recipient} into the outbox as {OutboxId}", mail.Subject, mail.To, id);
        else
            // Outside Development nobody reads the outbox: a customer is waiting for a message that will never arrive.
            logger.LogWarning("Email:Smtp:Host is not set: email {Subject} to {Recipient} was kept in the outbox as {OutboxId}, not sent", mail.Subject, mail.To, id);
    }

    public IReadOnlyList<OutboxMessage> List(int max = 100) =>
        Directory.EnumerateFiles(paths.Outbox, "*.json")
            .OrderByDescending(Path.GetFileName, StringComparer.Ordinal)
            .Take(max)
            .Select(Read)
            .OfType<OutboxMessage>()
            .ToList();

    public OutboxMessage? Find(string id)
    {
        if (id.Length == 0 || id.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '-'))
            return null;
        var file = Path.Combine(paths.Outbox, id + ".json");
        return File.Exists(file) ? Read(file) : null;
    }

    private static OutboxMessage? Read(string file) => JsonSerializer.Deserialize<OutboxMessage>(File.ReadAllText(file));
}
