using System.Text.Json;
using GenSaaS.Web.Data;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.AspNetCore.Identity.UI.Services;
using Microsoft.Extensions.Options;
using MimeKit;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>Sends through the configured SMTP relay with MailKit.</summary>
public sealed class SmtpEmailSender(IOptions<EmailOptions> options, ILogger<SmtpEmailSender> logger) : IEmailSender
{
    public async Task SendEmailAsync(string email, string subject, string htmlMessage)
    {
        var settings = options.Value;
        var smtp = settings.Smtp;
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(settings.From));
        message.To.Add(MailboxAddress.Parse(email));
        message.Subject = subject;
        message.Body = new BodyBuilder { HtmlBody = htmlMessage }.ToMessageBody();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(smtp.TimeoutSeconds));
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
        logger.LogInformation("Sent email {Subject} to {Recipient} via {SmtpHost}", subject, email, smtp.Host);
    }
}

/// <summary>One message kept by the development outbox.</summary>
public sealed record OutboxMessage(string Id, string To, string Subject, string HtmlBody, DateTime SentAt);

/// <summary>Without an SMTP relay, each message is written as a JSON file under the data folder's outbox.</summary>
public sealed class OutboxEmailSender(AppPaths paths, TimeProvider clock, IHostEnvironment environment, ILogger<OutboxEmailSender> logger) : IEmailSender
{
    public async Task SendEmailAsync(string email, string subject, string htmlMessage)
    {
        var sentAt = clock.GetUtcNow().UtcDateTime;
        // The id sorts by time, so listing the folder in reverse name order is newest first.
        var id = $"{sentAt:yyyyMMddHHmmssfffffff}-{Guid.NewGuid():N}";
        var message = new OutboxMessage(id, email, subject, htmlMessage, sentAt);
        // Written aside and then renamed, so the mailbox never reads a half-written message (mail comes from background jobs).
        var temporary = Path.Combine(paths.Outbox, id + ".tmp");
        await File.WriteAllTextAsync(temporary, JsonSerializer.Serialize(message));
        File.Move(temporary, Path.Combine(paths.Outbox, id + ".json"));
        if (environment.IsDevelopment())
            logger.LogInformation("Wrote email {Subject} to {Recipient} into the outbox as {OutboxId}", subject, email, id);
        else
            // Outside Development nobody reads the outbox: a customer is waiting for a message that will never arrive.
            logger.LogWarning("Email:Smtp:Host is not set: email {Subject} to {Recipient} was kept in the outbox as {OutboxId}, not sent", subject, email, id);
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
