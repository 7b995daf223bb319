using System.Net;
using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Accounts;

/// <summary>Where a customer lands after signing in, and what the sign-up page says to a newcomer.</summary>
public sealed class SignInLandingTests(TestApp app) : IClassFixture<TestApp>
{
    private async Task<HttpResponseMessage> SignInAsync(string? returnUrl)
    {
        var email = $"landing-{Guid.NewGuid():N}@example.com";
        await app.CreateUserAsync(email);
        var url = returnUrl is null ? "/Identity/Account/Login" : $"/Identity/Account/Login?returnUrl={Uri.EscapeDataString(returnUrl)}";
        return await TestApp.PostFormAsync(app.NewClient(), url, new()
        {
            ["Input.Email"] = email,
            ["Input.Password"] = "Correct-Horse-9",
        });
    }

    [Theory]
    [InlineData(null, "/dashboard")]
    [InlineData("/", "/dashboard")]
    [InlineData("/billing", "/billing")]
    [InlineData("/generate?show=x", "/generate?show=x")]
    [InlineData("https://evil.example/", "/dashboard")]
    [InlineData("//evil.example/", "/dashboard")]
    [InlineData("/\\evil.example/", "/dashboard")]
    public async Task PasswordSignIn_LandsOnTheDashboard_UnlessALocalPageAskedForIt(string? returnUrl, string landing)
    {
        var response = await SignInAsync(returnUrl);
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        response.Headers.Location!.ToString().ShouldBe(landing);
    }

    [Fact]
    public async Task AfterSigningIn_TheDashboardOpens()
    {
        var (_, client) = await app.SignedInUserAsync();
        var dashboard = await client.GetAsync("/dashboard");
        dashboard.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task RegisterPage_SpeaksToCustomers_NotDevelopers()
    {
        using var client = app.NewClient();
        var page = await client.GetStringAsync("/Identity/Account/Register");
        page.ShouldContain("<h1>Create your account</h1>");
        page.ShouldContain(">Create account</button>");
        foreach (var developerText in new[]
                 {
                     "Create a new account.", "Use another service", "external authentication", "ASP.NET", "aka.ms", "go.microsoft",
                     "learn.microsoft", "article", "{0}", "Register confirmation", "at max",
                 })
            page.ShouldNotContain(developerText, Case.Insensitive, $"the register page says '{developerText}'");

        var refused = await TestApp.PostFormAsync(client, "/Identity/Account/Register", new()
        {
            ["Input.Email"] = $"new-{Guid.NewGuid():N}@example.com",
            ["Input.Password"] = "short",
            ["Input.ConfirmPassword"] = "different",
        });
        var errors = await refused.Content.ReadAsStringAsync();
        errors.ShouldContain("The password must be 10 to 100 characters long.");
        errors.ShouldContain("The two passwords do not match.");
        errors.ShouldNotContain("at max");
    }
}
