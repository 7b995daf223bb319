using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Generation;

public static class GenerationSetup
{
    public static WebApplicationBuilder AddGeneration(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<GenerationOptions>().BindConfiguration("Generation").ValidateDataAnnotations().ValidateOnStart();
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
        return builder;
    }

    public static WebApplication MapGeneration(this WebApplication app)
    {
        GenerationApi.Map(app);
        return app;
    }
}
