using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Accounts;

public static class AccountsSetup
{
    public static WebApplicationBuilder AddAccounts(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var paths = AppPaths.FromConfiguration(builder.Configuration, builder.Environment.ContentRootPath);
        var dataProtection = services.AddDataProtection()
            .PersistKeysToFileSystem(new DirectoryInfo(paths.Keys))
            .SetApplicationName("GenSaaS");
        // With a certificate the keys (which sign cookies and emailed tokens) are stored encrypted, not as plain XML.
        if (builder.Configuration["App:DataProtection:CertificatePath"] is { Length: > 0 } certificatePath)
            dataProtection.ProtectKeysWithCertificate(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(
                certificatePath, builder.Configuration["App:DataProtection:CertificatePassword"]));

        services.AddDefaultIdentity<IdentityUser>(options =>
            {
                options.SignIn.RequireConfirmedAccount = true;
                options.User.RequireUniqueEmail = true;
                options.Lockout.AllowedForNewUsers = true;
                options.Lockout.MaxFailedAccessAttempts = 5;
                options.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(15);
                // Length and guessability are what count (StrongPasswordValidator); composition rules only annoy.
                options.Password.RequiredLength = StrongPasswordValidator.MinLength;
                options.Password.RequireNonAlphanumeric = false;
                options.Password.RequireDigit = false;
                options.Password.RequireLowercase = false;
                options.Password.RequireUppercase = false;
            })
            .AddRoles<IdentityRole>()
            .AddEntityFrameworkStores<AppDbContext>()
            .AddUserManager<SessionEndingUserManager>();
        services.AddHttpContextAccessor();
        services.AddSingleton<UserSessions>();
        // Another device's cookie is re-checked against the user's security stamp at least once a minute.
        services.Configure<SecurityStampValidatorOptions>(options =>
        {
            options.ValidationInterval = TimeSpan.FromMinutes(1);
            options.OnRefreshingPrincipal = UserSessions.KeepSessionOnRefresh;
        });

        services.ConfigureApplicationCookie(options =>
        {
            options.Cookie.Name = "gensaas.auth";
            options.SlidingExpiration = true;
            options.ExpireTimeSpan = TimeSpan.FromDays(14);
            UserSessions.AttachTo(options.Events);
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

        services.AddAuthentication(options =>
            {
                options.DefaultScheme = AuthSchemes.Default;
                options.DefaultChallengeScheme = AuthSchemes.Default;
                options.DefaultForbidScheme = AuthSchemes.Default;
            })
            .AddPolicyScheme(AuthSchemes.Default, displayName: null, options =>
                options.ForwardDefaultSelector = context => AuthSchemes.Select(context.Request))
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(AuthSchemes.ApiKey, displayName: null, _ => { })
            .AddExternalLogins(builder.Configuration);

        services.AddSingleton<PublicAddress>();
        services.AddSingleton<MagicLinks>();
        services.AddScoped<AccountEmailJob>();
        services.AddOptions<AccountThrottleOptions>().BindConfiguration("Accounts:Throttle").ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<AccountThrottle>();
        services.AddScoped<IPasswordValidator<IdentityUser>, StrongPasswordValidator>();
        services.AddSingleton<ApiKeyStore>();
        services.AddHostedService<AdminRoleSetup>();
        services.AddScoped<ICliCommand, UsersAddCommand>();
        services.AddScoped<ICliCommand, ApiKeysCreateCommand>();

        services.AddAuthorizationBuilder()
            .AddPolicy(Roles.Admin, policy => policy.RequireRole(Roles.Admin))
            .AddScopePolicies();
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, ScopeAwareAuthorizationResultHandler>();
        return builder;
    }

}

/// <summary>Creates the admin role when the app starts, if it is not there yet (users get it from the <c>users add</c> command).</summary>
internal sealed class AdminRoleSetup(IServiceScopeFactory scopes) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var roles = scope.ServiceProvider.GetRequiredService<RoleManager<IdentityRole>>();
        if (!await roles.RoleExistsAsync(Roles.Admin))
            await roles.CreateAsync(new IdentityRole(Roles.Admin));
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
