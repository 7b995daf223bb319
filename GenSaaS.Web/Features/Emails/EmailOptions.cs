using System.ComponentModel.DataAnnotations;

namespace GenSaaS.Web.Features.Emails;

public enum SmtpSecurity { Auto, None, StartTls, SslOnConnect }

/// <summary>The <c>Email</c> configuration section.</summary>
public sealed class EmailOptions
{
    /// <summary>Sender of every message, e.g. <c>GenSaaS &lt;no-reply@example.com&gt;</c>.</summary>
    [Required] public string From { get; set; } = "GenSaaS <no-reply@localhost>";

    /// <summary>SMTP relay; without a host, messages go to the development outbox under the data folder.</summary>
    public SmtpOptions Smtp { get; set; } = new();
}

/// <summary>The <c>Email:Smtp</c> section.</summary>
public sealed class SmtpOptions
{
    /// <summary>Relay host name; empty means no SMTP (the outbox is used).</summary>
    public string? Host { get; set; }

    /// <summary>Relay port: 587 for STARTTLS, 465 for TLS on connect, 25 for plain.</summary>
    [Range(1, 65535)] public int Port { get; set; } = 587;

    /// <summary>Login user name; empty means no authentication.</summary>
    public string? UserName { get; set; }

    /// <summary>Login password; from the environment, never the repository.</summary>
    public string? Password { get; set; }

    /// <summary>Auto (TLS on 465, STARTTLS when offered elsewhere), None, StartTls (required) or SslOnConnect.</summary>
    public SmtpSecurity Security { get; set; } = SmtpSecurity.Auto;

    /// <summary>Longest a connection or send may take, in seconds.</summary>
    [Range(1, 600)] public int TimeoutSeconds { get; set; } = 30;
}
