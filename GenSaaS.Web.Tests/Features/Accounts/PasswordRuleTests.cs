using System.Net;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

/// <summary>At least 10 characters and not guessable, on every path that sets a password, and the forms say the same.</summary>
public sealed class PasswordRuleTests(TestApp app) : IClassFixture<TestApp>
{
    public static TheoryData<string, string> Refused => new()
    {
        { "Password1", "at least 10" },
        { "Passw0rd", "at least 10" },
        { "Ab3-xY9-q", "at least 10" },
        { "Password123", "too common" },
        { "qwertyuiop1", "too common" },
        { "1234567890", "too common" },
        { "P@ssw0rd2024", "too common" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task Register_RefusesShortAndGuessablePasswords_AndCreatesNothing(string password, string reason)
    {
        var email = NewEmail();
        using var client = app.NewClient();
        var response = await TestApp.PostFormAsync(client, "/Identity/Account/Register", new()
        {
            ["Input.Email"] = email,
            ["Input.Password"] = password,
            ["Input.ConfirmPassword"] = password,
        });
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldContain(reason, Case.Insensitive);
        await using var scope = app.Services.CreateAsyncScope();
        (await scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>().FindByEmailAsync(email)).ShouldBeNull();
    }

    [Fact]
    public async Task Register_RefusesThePersonsOwnAddressAsPassword()
    {
        var email = $"correct.horse{Guid.NewGuid().ToString("N")[..4]}@example.com";
        using var client = app.NewClient();
        var response = await TestApp.PostFormAsync(client, "/Identity/Account/Register", new()
        {
            ["Input.Email"] = email,
            ["Input.Password"] = email,
            ["Input.ConfirmPassword"] = email,
        });
        (await response.Content.ReadAsStringAsync()).ShouldContain("too common", Case.Insensitive);
    }

    [Theory]
    [InlineData("Password123")]
    [InlineData("Ab3-xY9-q")]
    public async Task ResetPassword_WithAValidCode_StillRefusesAWeakPassword(string password)
    {
        var email = NewEmail();
        var user = await app.CreateUserAsync(email);
        string code;
        await using (var scope = app.Services.CreateAsyncScope())
            code = await scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>().GeneratePasswordResetTokenAsync(user);
        var url = "/Identity/Account/ResetPassword?code=" + Microsoft.AspNetCore.WebUtilities.WebEncoders.Base64UrlEncode(System.Text.Encoding.UTF8.GetBytes(code));
        using var client = app.NewClient();
        var refused = await TestApp.PostFormAsync(client, url, new()
        {
            ["Input.Email"] = email,
            ["Input.Password"] = password,
            ["Input.ConfirmPassword"] = password,
            ["Input.Code"] = code,
        });
        refused.StatusCode.ShouldBe(HttpStatusCode.OK);
        await app.SignInAsync(email);
    }

    [Fact]
    public async Task ResetPassword_WithAMangledCode_IsA400NotA500()
    {
        using var client = app.NewClient();
        (await client.GetAsync("/Identity/Account/ResetPassword?code=%%%")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("Passw0rd")]
    [InlineData("Password123")]
    public async Task ChangePassword_RefusesAWeakNewPassword_AndTheOldOneStillWorks(string password)
    {
        var (user, client) = await app.SignedInUserAsync();
        var refused = await TestApp.PostFormAsync(client, "/Identity/Account/Manage/ChangePassword", new()
        {
            ["Input.OldPassword"] = "Correct-Horse-9",
            ["Input.NewPassword"] = password,
            ["Input.ConfirmPassword"] = password,
        });
        refused.StatusCode.ShouldBe(HttpStatusCode.OK);
        await app.SignInAsync(user.Email!);

        var accepted = await TestApp.PostFormAsync(client, "/Identity/Account/Manage/ChangePassword", new()
        {
            ["Input.OldPassword"] = "Correct-Horse-9",
            ["Input.NewPassword"] = "Violet-Lantern-Harbour",
            ["Input.ConfirmPassword"] = "Violet-Lantern-Harbour",
        });
        accepted.StatusCode.ShouldBe(HttpStatusCode.Redirect, await accepted.Content.ReadAsStringAsync());
        await app.SignInAsync(user.Email!, "Violet-Lantern-Harbour");
    }

    [Theory]
    [InlineData("/Identity/Account/Register", "Input_Password")]
    [InlineData("/Identity/Account/Manage/ChangePassword", "Input_NewPassword")]
    public async Task Forms_StateTheSameRuleAsTheServer(string url, string field)
    {
        var (_, client) = await app.SignedInUserAsync();
        using var anonymous = app.NewClient();
        var page = await (url.Contains("Manage") ? client : anonymous).GetStringAsync(url);
        var input = System.Text.RegularExpressions.Regex.Match(page, $"<input[^>]*id=\"{field}\"[^>]*>").Value;
        input.ShouldContain("minlength=\"10\"");
        page.ShouldContain("At least 10 characters, and not a common or easily guessed password");
    }
}
