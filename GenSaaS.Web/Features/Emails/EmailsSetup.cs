using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Emails;

public static class EmailsSetup
{
    public static WebApplicationBuilder AddEmails(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<EmailOptions>().BindConfiguration("Email").ValidateDataAnnotations()
            .Validate(o => MimeKit.MailboxAddress.TryParse(o.From, out _), "Email:From is not an email address, e.g. GenSaaS <no-reply@example.com>")
            .ValidateOnStart();
        services.AddSingleton<OutboxMailSender>();
        services.AddSingleton<SmtpMailSender>();
        services.AddSingleton<IMailSender>(sp =>
            string.IsNullOrWhiteSpace(sp.GetRequiredService<IOptions<EmailOptions>>().Value.Smtp.Host)
                ? sp.GetRequiredService<OutboxMailSender>()
                : sp.GetRequiredService<SmtpMailSender>());
        services.AddSingleton<EmailTemplates>();
        services.AddSingleton<EmailLinks>();
        services.AddScoped<Mailer>();
        services.AddSingleton<SentEmails>();
        return builder;
    }
}
