namespace GenSaaS.Web.Features.Dashboard;

/// <summary>The customer's pages: the dashboard, the credit history, payments, exports and receipts.</summary>
public static class DashboardSetup
{
    public static WebApplicationBuilder AddDashboard(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ActivityReader>();
        builder.Services.AddSingleton<CreditHistory>();
        builder.Services.AddSingleton<PaymentHistory>();
        builder.Services.AddSingleton<GenerationReceipts>();
        return builder;
    }

    public static WebApplication MapDashboard(this WebApplication app)
    {
        DashboardExports.Map(app);
        return app;
    }
}
