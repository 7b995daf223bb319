using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Features.Accounts;

public static class AccountsSetup
{
    public static WebApplicationBuilder AddAccounts(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var paths = AppPaths.FromConfiguration(builder.Configuration, builder.Environment.ContentRootPath);
        services.AddDataProtection()
            .PersistKeysToFileSystem(new DirectoryInfo(paths.Keys))
            .SetApplicationName("GenSaaS");

        services.AddDefaultIdentity<IdentityUser>(options =>
            {
                options.SignIn.RequireConfirmedAccount = true;
                options.User.RequireUniqueEmail = true;
                options.Lockout.AllowedForNewUsers = true;
                options.Lockout.MaxFailedAccessAttempts = 5;
                options.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(15);
                options.Password.RequiredLength = 8;
                options.Password.RequireNonAlphanumeric = false;
            })
            .AddRoles<IdentityRole>()
            .AddEntityFrameworkStores<AppDbContext>();

        services.ConfigureApplicationCookie(options =>
        {
            options.Cookie.Name = "gensaas.auth";
            options.SlidingExpiration = true;
            options.ExpireTimeSpan = TimeSpan.FromDays(14);
            options.Events.OnRedirectToLogin = async context =>
            {
                if (Problems.IsApiRequest(context.Request))
                    await Problems.WriteAsync(context.HttpContext, StatusCodes.Status401Unauthorized, ProblemCodes.Unauthenticated,
                        "Sign in or send an API key.", "Send a session cookie or 'Authorization: Bearer <api key>'.");
                else if (context.Request.Headers.ContainsKey("HX-Request"))
                    context.Response.Headers["HX-Redirect"] = context.RedirectUri;
                else
                    context.Response.Redirect(context.RedirectUri);
            };
            options.Events.OnRedirectToAccessDenied = async context =>
            {
                if (Problems.IsApiRequest(context.Request))
                    await Problems.WriteAsync(context.HttpContext, StatusCodes.Status403Forbidden, ProblemCodes.Forbidden, "You may not do this.");
                else
                    context.Response.StatusCode = StatusCodes.Status403Forbidden;
            };
        });

        services.AddAuthorizationBuilder()
            .AddPolicy(Roles.Admin, policy => policy.RequireRole(Roles.Admin));
        return builder;
    }

    public static WebApplication MapAccounts(this WebApplication app)
    {
        using (var scope = app.Services.CreateScope())
        {
            var roles = scope.ServiceProvider.GetRequiredService<RoleManager<IdentityRole>>();
            if (!roles.RoleExistsAsync(Roles.Admin).GetAwaiter().GetResult())
                roles.CreateAsync(new IdentityRole(Roles.Admin)).GetAwaiter().GetResult();
        }
        return app;
    }
}
