using GenSaaS.Web.Features.Billing.Emulator;
using GenSaaS.Web.Features.Billing.Webhooks;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Operations;
using Hangfire;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Billing;

public static class BillingSetup
{
    public static WebApplicationBuilder AddBilling(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<BillingOptions>().BindConfiguration("Billing").ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<BillingOptions>, BillingOptionsValidator>();

        // Decided once, here, because it also decides whether the emulator is part of the app at all.
        var mode = BillingModeInfo.Resolve(builder.Configuration.GetSection("Billing").Get<BillingOptions>() ?? new BillingOptions(), builder.Environment);
        services.AddSingleton(mode);
        if (mode.IsEmulator)
            builder.AddStripeEmulator();

        services.AddSingleton<StripeGateway>();
        services.AddSingleton<StripePrices>();
        services.AddSingleton<BillingAccounts>();
        services.AddSingleton<BillingOverview>();
        services.AddSingleton<IFundingFacts, CustomerFacts>();
        services.AddMemoryCache();
        services.AddSingleton<AccountSummaries>();
        services.AddTransient<FairUseNoticeJob>();
        services.AddScoped<ICliCommand, CreditsShowCommand>();
        services.AddScoped<Checkout>();
        services.AddSingleton<CheckoutSessions>();
        services.AddScoped<StripeEventApplier>();
        services.AddScoped<StripeWebhooks>();
        services.AddScoped<StripeEventRetryJob>();
        services.AddScoped<PayPerUse>();
        services.AddScoped<PayPerUseCaptureJob>();
        services.AddScoped<PayPerUseCancelJob>();
        services.AddScoped<PayPerUseSweepJob>();
        services.AddScoped<ICliCommand, StripeSyncCommand>();
        services.AddScoped<ICliCommand, RefundCommand>();
        services.AddScoped<ICliCommand, WebhookBenchCommand>();
        return builder;
    }

    public static WebApplication MapBilling(this WebApplication app)
    {
        var mode = app.Services.GetRequiredService<BillingModeInfo>();
        if (mode.IsEmulator)
            app.MapStripeEmulator();
        if (mode.ShowEmulatorBanner)
            app.Logger.LogWarning("Billing runs on the Stripe emulator in Production because Billing:Mode=Emulator is set; no payment is real");

        AccountSummaries.Map(app);
        app.MapPost("/api/billing/checkout", Checkout.HandleAsync).RequireAuthorization().DisableAntiforgery();
        app.MapPost("/api/billing/portal", Checkout.PortalAsync).RequireAuthorization().DisableAntiforgery();
        app.MapPost("/api/billing/webhook", StripeWebhooks.HandleAsync).AllowAnonymous().DisableAntiforgery();

        app.Logger.LogInformation("Billing mode: {BillingMode}", mode.Mode);
        if (mode.IsEnabled && app.Configuration.GetValue("Jobs:RunServer", true))
            app.Services.GetRequiredService<IRecurringJobManager>()
                .AddOrUpdate<PayPerUseSweepJob>(PayPerUseSweepJob.RecurringId, job => job.RunAsync(CancellationToken.None), Cron.Minutely());
        return app;
    }
}
