namespace GenSaaS.Web.Features.Billing;

public static class BillingSetup
{
    public static WebApplicationBuilder AddBilling(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<PlanCatalogOptions>().BindConfiguration("Billing").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<PlanCatalog>();
        return builder;
    }

    public static WebApplication MapBilling(this WebApplication app) => app;
}
