using GenSaaS.StripeEmulator;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Billing.Webhooks;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Features.Shared;
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
        var mode = BillingModeInfo.Resolve(BillingConfiguration(builder), builder.Environment);
        if (mode.IsEmulator)
        {
            builder.AddStripeEmulator(emulator =>
            {
                emulator.DatabaseFile = AppPaths.FromConfiguration(builder.Configuration, builder.Environment.ContentRootPath).EmulatorDb;
                emulator.PublicBaseUrl ??= builder.Configuration["App:PublicBaseUrl"];
                emulator.WebhookPath = WebhookPath;
                // The signing secret a developer set for the app (scripts/bench-webhooks.sh does) is the emulator's too.
                emulator.WebhookSecret ??= builder.Configuration["Billing:WebhookSecret"];
                emulator.CanUseDevControls = DevAccess.IsAllowed;
            });
            // Again, now that the emulator has published its keys into configuration.
            mode = BillingModeInfo.Resolve(BillingConfiguration(builder), builder.Environment);
        }
        // The signing secret of the endpoint `stripe sync` registered, kept in the app's database.
        mode.WithStoredWebhookSecret(BillingSettings.ReadAtStartup(
            AppPaths.FromConfiguration(builder.Configuration, builder.Environment.ContentRootPath).AppDb, BillingSettings.WebhookSecretKey));
        services.AddSingleton(mode);
        services.AddSingleton<BillingSettings>();
        services.AddSingleton<StripeAccountSetup>();

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
        services.AddSingleton<PurchaseFlags>();
        services.AddSingleton<CheckoutSessions>();
        services.AddSingleton<Payments>();
        services.AddSingleton<RefundRecorder>();
        services.AddSingleton<BillingNotices>();
        services.AddScoped<BillingNoticeJob>();
        services.AddSingleton<LifecycleEmails>();
        services.AddScoped<LifecycleEmailJob>();
        services.AddScoped<LowBalanceNoticeJob>();
        services.AddScoped<StripeEventApplier>();
        services.AddScoped<StripeWebhooks>();
        services.AddScoped<StripeEventRetryJob>();
        services.AddScoped<PayPerUse>();
        services.AddScoped<PlanChanges>();
        services.AddScoped<PayPerUseCaptureJob>();
        services.AddScoped<PayPerUseCancelJob>();
        services.AddScoped<PayPerUseSweepJob>();
        services.AddScoped<HoldWatchdog>();
        services.AddScoped<AutoTopUpCharges>();
        services.AddScoped<AutoTopUpJob>();
        services.AddScoped<AutoTopUpSweepJob>();
        services.AddScoped<AutoTopUpEmailJob>();
        services.AddScoped<HoldWatchdogJob>();
        services.AddScoped<ICliCommand, StripeSyncCommand>();
        services.AddScoped<ICliCommand, StripeDoctorCommand>();
        services.AddScoped<ICliCommand, RefundCommand>();
        services.AddOptions<ReconciliationOptions>().BindConfiguration("Billing:Reconciliation").ValidateDataAnnotations().ValidateOnStart();
        services.AddScoped<MissedEvents>();
        services.AddSingleton<ReconciliationRuns>();
        services.AddScoped<Reconciler>();
        services.AddScoped<ReconciliationJob>();
        services.AddScoped<ICliCommand, ReconcileCommand>();
        return builder;
    }

    private const string WebhookPath = "/api/billing/webhook";

    private static BillingOptions BillingConfiguration(WebApplicationBuilder builder) =>
        builder.Configuration.GetSection("Billing").Get<BillingOptions>() ?? new BillingOptions();

    public static WebApplication MapBilling(this WebApplication app)
    {
        var mode = app.Services.GetRequiredService<BillingModeInfo>();
        // Callable by a loopback address in Development: that is ambient, so even an anonymous POST must come from a same-site caller.
        if (mode.IsEmulator)
            app.MapStripeEmulator().WithMetadata(new RequireSameSiteCallerAttribute());
        if (mode.ShowEmulatorBanner)
            app.Logger.LogWarning("Billing runs on the Stripe emulator in Production because Billing:Mode=Emulator is set; no payment is real");

        AccountSummaries.Map(app);
        BillingApi.Map(app);
        app.MapPost("/api/billing/checkout", Checkout.HandleAsync).RequireAuthorization().DisableAntiforgery();
        app.MapPost("/api/billing/portal", Checkout.PortalAsync).RequireAuthorization().DisableAntiforgery();
        app.MapPost(WebhookPath, StripeWebhooks.HandleAsync).AllowAnonymous().DisableAntiforgery();

        app.Logger.LogInformation("Billing mode: {BillingMode}", mode.Mode);
        if (mode.IsEnabled && app.Configuration.GetValue("Jobs:RunServer", true))
        {
            var recurring = app.Services.GetRequiredService<IRecurringJobManager>();
            recurring.AddOrUpdate<PayPerUseSweepJob>(PayPerUseSweepJob.RecurringId, job => job.RunAsync(CancellationToken.None), Cron.Minutely());
            recurring.AddOrUpdate<HoldWatchdogJob>(HoldWatchdog.RecurringId, job => job.RunAsync(CancellationToken.None), "*/15 * * * *");
            recurring.AddOrUpdate<AutoTopUpSweepJob>(AutoTopUpSweepJob.RecurringId, job => job.RunAsync(CancellationToken.None), Cron.Minutely());
            recurring.AddOrUpdate<ReconciliationJob>(ReconciliationJob.RecurringId, job => job.RunDailyAsync(CancellationToken.None),
                app.Services.GetRequiredService<IOptions<ReconciliationOptions>>().Value.Cron);
        }
        return app;
    }
}
