using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Generation;

public static class GenerationSetup
{
    public static WebApplicationBuilder AddGeneration(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<GenerationOptions>().BindConfiguration("Generation").ValidateDataAnnotations()
            .Validate(o => o.Cost.Units is >= 1 and <= 1000 && o.Cost.UnitsBySize.Values.All(units => units is >= 1 and <= 1000),
                "Generation:Cost: Units and every size in UnitsBySize cost between 1 and 1000 units.")
            .ValidateOnStart();
        services.AddSingleton<CostRule>();
        services.AddSingleton<ImageStore>();
        services.AddSingleton<GenerationStore>();
        services.AddScoped<GenerationService>();
        services.AddSingleton<BuiltInGenerator>();
        services.AddSingleton<NullGenerator>();
        services.AddHttpClient<HttpGenerator>((sp, http) =>
            http.Timeout = TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<GenerationOptions>>().Value.TimeoutSeconds + 5));
        services.AddTransient<IImageGenerator>(sp => sp.GetRequiredService<IOptions<GenerationOptions>>().Value.Backend switch
        {
            GeneratorBackend.Http => sp.GetRequiredService<HttpGenerator>(),
            GeneratorBackend.Null => sp.GetRequiredService<NullGenerator>(),
            _ => sp.GetRequiredService<BuiltInGenerator>(),
        });
        builder.AddGenerationRateLimit();
        return builder;
    }

    public static WebApplication MapGeneration(this WebApplication app)
    {
        GenerationApi.Map(app);
        return app;
    }
}
