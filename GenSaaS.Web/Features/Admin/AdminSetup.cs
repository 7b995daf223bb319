using GenSaaS.Web.Features.Operations;

namespace GenSaaS.Web.Features.Admin;

public static class AdminSetup
{
    public static WebApplicationBuilder AddAdmin(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<AuditLog>();
        services.AddSingleton<CreditAdjustments>();
        services.AddSingleton<PaymentRefunds>();
        services.AddScoped<SubscriptionChanges>();
        services.AddSingleton<AccountActions>();
        services.AddSingleton<CustomerDirectory>();
        services.AddSingleton<CustomerDetails>();
        services.AddSingleton<CustomerTimeline>();
        services.AddSingleton<OverviewReader>();
        services.AddSingleton<StripeEventLog>();
        services.AddScoped<StripeEventReplays>();
        services.AddScoped<JobActions>();
        services.AddScoped<ICliCommand, CreditsAdjustCommand>();
        services.AddScoped<ICliCommand, CreditsGrantCommand>();
        services.AddScoped<ICliCommand, AuditTailCommand>();
        foreach (var (action, word) in UsersAccountCommand.All)
            services.AddScoped<ICliCommand>(sp => new UsersAccountCommand(action, word,
                sp.GetRequiredService<Microsoft.AspNetCore.Identity.UserManager<Microsoft.AspNetCore.Identity.IdentityUser>>(), sp.GetRequiredService<AccountActions>()));
        return builder;
    }

    public static WebApplication MapAdmin(this WebApplication app)
    {
        AdminApi.Map(app);
        AccountActionsApi.Map(app);
        return app;
    }
}
