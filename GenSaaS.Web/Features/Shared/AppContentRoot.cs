namespace GenSaaS.Web.Features.Shared;

/// <summary>
/// Where the app looks for appsettings.json, wwwroot and its views. ASP.NET Core takes the working directory, so
/// <c>dotnet /opt/gensaas/GenSaaS.Web.dll</c> started from anywhere else (a service unit, a cron line, an operator's shell)
/// would run without its own settings — the plan catalogue would be missing. When the working directory has no
/// appsettings.json and the app's own folder has one, the app's folder is the content root; an explicit
/// <c>--contentRoot</c> or ASPNETCORE_CONTENTROOT still wins, and <c>dotnet run</c> (project folder) is unchanged.
/// </summary>
public static class AppContentRoot
{
    public static string? Choose(string[] args, string workingDirectory, string appDirectory)
    {
        if (args.Any(a => a.StartsWith("--contentRoot", StringComparison.OrdinalIgnoreCase))
            || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ASPNETCORE_CONTENTROOT"))
            || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOTNET_CONTENTROOT")))
            return null;
        if (File.Exists(Path.Combine(workingDirectory, "appsettings.json")))
            return null;
        return File.Exists(Path.Combine(appDirectory, "appsettings.json")) ? appDirectory : null;
    }
}
