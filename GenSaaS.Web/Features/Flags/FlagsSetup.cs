using GenSaaS.Web.Features.Operations;
using Microsoft.FeatureManagement;

namespace GenSaaS.Web.Features.Flags;

public static class FlagsSetup
{
    public static WebApplicationBuilder AddFlags(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<FlagsOptions>().BindConfiguration("Flags").ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<FlagDefinitions>();
        // Before AddFeatureManagement, which adds the appsettings-backed provider only when none is registered.
        services.AddSingleton<IFeatureDefinitionProvider>(sp => sp.GetRequiredService<FlagDefinitions>());
        services.AddFeatureManagement().AddFeatureFilter<RolloutFilter>();
        services.AddSingleton<FlagStore>();
        services.AddSingleton<FlagAccounts>();
        services.AddScoped<ICliCommand, FlagsListCommand>();
        services.AddScoped<ICliCommand, FlagsSetCommand>();
        return builder;
    }

    public static WebApplication MapFlags(this WebApplication app)
    {
        FlagsApi.Map(app);
        return app;
    }
}
