using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Plans;

public static class PlansSetup
{
    /// <summary>The plan catalogue, bound from <c>Billing:Plans</c> and checked before the app takes a request.</summary>
    public static WebApplicationBuilder AddPlans(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<PlanCatalogOptions>().BindConfiguration("Billing").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<PlanCatalogOptions>, PlanCatalogValidator>();
        builder.Services.AddSingleton<PlanCatalog>();
        return builder;
    }
}
