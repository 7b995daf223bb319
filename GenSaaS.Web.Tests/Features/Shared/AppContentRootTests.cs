using GenSaaS.Web.Features.Shared;
using Shouldly;

namespace GenSaaS.Web.Tests.Features.Shared;

/// <summary>An operator starts the published app from another folder: it must still find its own appsettings.json.</summary>
public sealed class AppContentRootTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("gensaas-cwd").FullName;
    private readonly string _app = Directory.CreateTempSubdirectory("gensaas-app").FullName;

    public void Dispose()
    {
        Directory.Delete(_work, true);
        Directory.Delete(_app, true);
    }

    [Fact]
    public void AWorkingDirectoryWithoutSettings_UsesTheAppsFolder()
    {
        File.WriteAllText(Path.Combine(_app, "appsettings.json"), "{}");
        AppContentRoot.Choose([], _work, _app).ShouldBe(_app);
    }

    [Fact]
    public void AWorkingDirectoryWithSettings_IsKept()
    {
        File.WriteAllText(Path.Combine(_app, "appsettings.json"), "{}");
        File.WriteAllText(Path.Combine(_work, "appsettings.json"), "{}");
        AppContentRoot.Choose([], _work, _app).ShouldBeNull();
    }

    [Fact]
    public void AnAppFolderWithoutSettings_ChangesNothing() => AppContentRoot.Choose([], _work, _app).ShouldBeNull();

    [Theory]
    [InlineData("--contentRoot")]
    [InlineData("--contentRoot=/srv/gensaas")]
    public void AnExplicitContentRoot_Wins(string arg)
    {
        File.WriteAllText(Path.Combine(_app, "appsettings.json"), "{}");
        AppContentRoot.Choose([arg, "/srv/gensaas"], _work, _app).ShouldBeNull();
    }
}
