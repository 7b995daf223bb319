using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Plans;
using GenSaaS.Web.Features.Admin;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Billing;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Emails;
using GenSaaS.Web.Features.Dashboard;
using GenSaaS.Web.Features.Flags;
using GenSaaS.Web.Features.Generation;
using GenSaaS.Web.Features.Legal;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Features.Shared;

Db.ConfigureSqlite();
var cli = CliSetup.IsCli(args);
var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = args,
    ContentRootPath = AppContentRoot.Choose(args, Directory.GetCurrentDirectory(), AppContext.BaseDirectory),
});
if (!cli && PublicAddress.StartProblem(builder.Configuration, builder.Environment) is { } startProblem)
{
    Console.Error.WriteLine(startProblem);
    return 1;
}
PublicAddress.DefaultAllowedHosts(builder);
if (cli && RestoreCommand.Matches(args))
    return await RestoreCommand.RunAsync(args, builder.Configuration, builder.Environment.ContentRootPath);

builder.AddData();
builder.AddOperations(cli);
builder.AddEmails();
builder.AddAccounts();
builder.AddPlans();
builder.AddGeneration();
builder.AddCredits();
builder.AddBilling();
builder.AddAdmin();
builder.AddFlags();
builder.AddDashboard();
builder.AddLegal();
builder.AddTransportSecurity();
builder.AddSecurityHeaders();
builder.AddCsrfProtection();
builder.AddApiDocs();
builder.Services.AddRazorPages(options => options.RootDirectory = "/Features");

var app = builder.Build();
app.UseData();

if (cli)
    return await app.RunCliAsync(args);

app.UseTransportSecurity();
app.UseSecurityHeaders();
app.UseOperations();
app.UseErrorAnswers();
app.UseStaticFiles();
app.UseRouting();
app.UseRequestMetrics();
app.UseAuthentication();
app.UseRateLimitHeaders();
app.UseAuthorization();
app.UseCsrfProtection();
app.UseLegalGate();
app.UseQueryGuard();
app.UseGenerationRateLimit();

app.MapOperations();
app.MapGeneration();
app.MapCredits();
app.MapBilling();
app.MapDashboard();
app.MapAdmin();
app.MapFlags();
app.MapApiDocs();
app.MapRazorPages();

await app.RunAsync();
return 0;

public partial class Program;
