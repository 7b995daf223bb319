using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace GenSaaS.E2E.Infrastructure;

/// <summary>What a person does to get an account: the register form, the mail, the sign-in form.</summary>
public static class AccountSteps
{
    public const string Password = "Correct-Horse-9";

    public static string NewEmail(string who) => $"{who}-{Guid.NewGuid().ToString("N")[..8]}@example.com";

    public static async Task RegisterAsync(Journey journey, string email, string password = Password)
    {
        var page = journey.Page;
        await journey.GotoAsync("/Identity/Account/Register");
        await page.GetByLabel("Email", new() { Exact = true }).FillAsync(email);
        await page.GetByLabel("Password", new() { Exact = true }).FillAsync(password);
        // Identity UI spells it "Confirm Password".
        await page.GetByLabel(new Regex("^Confirm password$", RegexOptions.IgnoreCase)).FillAsync(password);
        await journey.ShotAsync("register-form");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create account" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/Identity/Account/RegisterConfirmation", RegexOptions.IgnoreCase));
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Check your email" })).ToBeVisibleAsync();
        await journey.ShotAsync("registered");
    }

    /// <summary>Opens the development mailbox, reads the newest message to <paramref name="email"/> and follows its confirmation link.</summary>
    public static async Task ConfirmFromMailboxAsync(Journey journey, string email)
    {
        var page = journey.Page;
        var message = page.GetByTestId("mailbox-message").Filter(new() { HasText = email }).First;
        // The mail is sent by a background job, a moment after the form answered: look again until it is there.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            await journey.GotoAsync("/dev/mailbox");
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Development mailbox" })).ToBeVisibleAsync();
            if (await message.CountAsync() > 0 || DateTime.UtcNow > deadline)
                break;
            await Task.Delay(500);
        }
        await Expect(message).ToBeVisibleAsync();
        await journey.ShotAsync("mailbox");

        await message.GetByRole(AriaRole.Link).ClickAsync();
        await Expect(page.GetByTestId("mail-to")).ToHaveTextAsync(email);
        await journey.ShotAsync("confirmation-mail");

        await page.GetByTestId("mail-body").GetByRole(AriaRole.Link, new() { NameRegex = new Regex("confirm|clicking here", RegexOptions.IgnoreCase) }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/Identity/Account/ConfirmEmail", RegexOptions.IgnoreCase));
        await Expect(page.GetByText("Thank you for confirming your email.")).ToBeVisibleAsync();
        await journey.ShotAsync("email-confirmed");
    }

    /// <summary>Fills the sign-in form the browser is on and submits it.</summary>
    public static async Task SignInOnLoginPageAsync(Journey journey, string email, string password = Password)
    {
        var page = journey.Page;
        await Expect(page).ToHaveURLAsync(new Regex("/Identity/Account/Login", RegexOptions.IgnoreCase));
        await page.GetByLabel("Email", new() { Exact = true }).FillAsync(email);
        await page.GetByLabel("Password", new() { Exact = true }).FillAsync(password);
        await journey.ShotAsync("sign-in-form");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in", Exact = true }).ClickAsync();
    }

    /// <summary>
    /// Makes a confirmed account with the operator CLI (an admin when <paramref name="admin"/>) and signs it in on the sign-in
    /// page: the quick way in for journeys that are not about signing up.
    /// </summary>
    public static async Task<string> SignInAsNewAccountAsync(E2EFixture fixture, Journey journey, string who, bool admin = false)
    {
        var email = NewEmail(who);
        string[] add = ["users", "add", "--email", email, "--password", Password, "--confirmed"];
        await fixture.App.RunCliAsync(admin ? [.. add, "--admin"] : add);
        await journey.GotoAsync("/Identity/Account/Login");
        await SignInOnLoginPageAsync(journey, email);
        await Expect(journey.Page.GetByRole(AriaRole.Link, new() { Name = email })).ToBeVisibleAsync();
        return email;
    }
}
