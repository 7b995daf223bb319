namespace GenSaaS.Web.Features.Legal;

/// <summary>The operator's terms of service and privacy policy (docs/operations.md, "Terms of service and privacy policy").</summary>
public static class LegalSetup
{
    public static WebApplicationBuilder AddLegal(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<LegalDocuments>();
        builder.Services.AddSingleton<LegalAcceptances>();
        return builder;
    }
}
