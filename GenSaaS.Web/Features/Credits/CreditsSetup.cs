using Hangfire;

namespace GenSaaS.Web.Features.Credits;

public static class CreditsSetup
{
    public static WebApplicationBuilder AddCredits(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<CreditsOptions>().BindConfiguration("Credits").ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<CreditLedger>();
        services.AddSingleton<SpendCaps>();
        services.AddSingleton<LowBalance>();
        services.AddSingleton<AutoTopUps>();
        services.AddTransient<UsageSweeper>();
        return builder;
    }

    public static WebApplication MapCredits(this WebApplication app)
    {
        app.Services.GetRequiredService<IRecurringJobManager>()
            .AddOrUpdate<UsageSweeper>(UsageSweeper.RecurringJobId, sweeper => sweeper.SweepAsync(CancellationToken.None), Cron.Minutely);
        return app;
    }
}
