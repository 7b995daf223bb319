using System.Net;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

public sealed class SignInSecurityTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task FiveWrongPasswords_LockTheAccount_WithoutSayingSo_AndThenEvenTheRightPasswordIsRefused()
    {
        var email = NewEmail();
        await app.CreateUserAsync(email);
        using var client = app.NewClient();
        for (var i = 0; i < 5; i++)
        {
            // The fifth failure locks the account, but the answer is the one an unknown address gets.
            var wrong = await TestApp.PostFormAsync(client, "/Identity/Account/Login", new() { ["Input.Email"] = email, ["Input.Password"] = $"Wrong-Password-{i}" });
            wrong.StatusCode.ShouldBe(HttpStatusCode.OK);
            (await wrong.Content.ReadAsStringAsync()).ShouldContain("Invalid login attempt.");
        }

        // The address has used up its failures for the throttle window as well.
        var right = await TestApp.PostFormAsync(client, "/Identity/Account/Login", new() { ["Input.Email"] = email, ["Input.Password"] = "Correct-Horse-9" });
        right.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        right.Headers.RetryAfter.ShouldNotBeNull();
        (await client.GetAsync("/generate")).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        await using var scope = app.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        (await users.IsLockedOutAsync((await users.FindByEmailAsync(email))!)).ShouldBeTrue();
    }

    [Fact]
    public async Task Hangfire_SendsAnonymousToSignIn_RefusesNonAdmins_AndOpensForAdmins()
    {
        using var anonymous = app.NewClient();
        var redirected = await anonymous.GetAsync("/hangfire");
        redirected.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        redirected.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login?ReturnUrl=%2Fhangfire");

        var (_, user) = await app.SignedInUserAsync();
        (await user.GetAsync("/hangfire")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        var (_, admin) = await app.SignedInUserAsync(admin: true);
        var dashboard = await admin.GetAsync("/hangfire");
        dashboard.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await dashboard.Content.ReadAsStringAsync()).ShouldContain("GenSaaS jobs");
    }

    [Fact]
    public async Task SignInPage_HasLabelledEmailAndPasswordFields()
    {
        using var client = app.NewClient();
        var page = await client.GetStringAsync("/Identity/Account/Login");
        page.ShouldContain("<label for=\"Input_Email\">Email</label>");
        page.ShouldContain("<label for=\"Input_Password\">Password</label>");
        page.ShouldContain("type=\"password\"");
    }
}
