using GenSaaS.Web.Features.Billing.Emulator;

namespace GenSaaS.Web.Features.Billing;

public static class BillingSetup
{
    public static WebApplicationBuilder AddBilling(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<PlanCatalogOptions>().BindConfiguration("Billing").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<PlanCatalog>();
        if (EmulatorSetup.IsEnabled(builder.Configuration, builder.Environment))
            builder.AddStripeEmulator();
        return builder;
    }

    public static WebApplication MapBilling(this WebApplication app)
    {
        if (EmulatorSetup.IsEnabled(app.Configuration, app.Environment))
            app.MapStripeEmulator();
        return app;
    }
}
