using GenSaaS.Web.Features.Accounts;

namespace GenSaaS.Web.Tests.Features.Accounts;

public sealed class AccountLinksTests
{
    [Theory]
    [InlineData("/generate", "/generate")]
    [InlineData("/dashboard?tab=usage", "/dashboard?tab=usage")]
    [InlineData("/", "/")]
    [InlineData(null, "/")]
    [InlineData("", "/")]
    [InlineData("https://evil.example/", "/")]
    [InlineData("//evil.example/", "/")]
    [InlineData("/\\evil.example/", "/")]
    [InlineData("/\t/evil.example/", "/")]
    [InlineData("generate", "/")]
    public void SafeReturnUrl_KeepsOnlyPathsOfThisSite(string? requested, string expected) =>
        AccountLinks.SafeReturnUrl(requested).ShouldBe(expected);

    [Theory]
    [InlineData("/billing", "/billing")]
    [InlineData("/generate?show=abc", "/generate?show=abc")]
    [InlineData("/", "/dashboard")]
    [InlineData(null, "/dashboard")]
    [InlineData("", "/dashboard")]
    [InlineData("https://evil.example/", "/dashboard")]
    [InlineData("//evil.example/", "/dashboard")]
    [InlineData("/\\evil.example/", "/dashboard")]
    public void AfterSignIn_IsTheLocalReturnUrl_ElseTheDashboard(string? requested, string expected) =>
        AccountLinks.AfterSignIn(requested).ShouldBe(expected);
}
