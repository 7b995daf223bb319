namespace GenSaaS.Web.Features.Billing;

public static class BillingSetup
{
    public static WebApplicationBuilder AddBilling(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<PlanCatalogOptions>().BindConfiguration("Billing").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<PlanCatalog>();
        builder.Services.AddOptions<BillingOptions>().BindConfiguration("Billing").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<BillingOptions>, BillingOptionsValidator>();
        builder.Services.AddSingleton(sp => BillingModeInfo.Resolve(
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<BillingOptions>>().Value, sp.GetRequiredService<IHostEnvironment>()));
        return builder;
    }

    public static WebApplication MapBilling(this WebApplication app) => app;
}
