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
}
