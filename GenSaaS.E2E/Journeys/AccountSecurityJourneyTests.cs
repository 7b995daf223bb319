using System.Text.Json;
using System.Text.RegularExpressions;
using GenSaaS.E2E.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace GenSaaS.E2E.Journeys;

public sealed class AccountSecurityJourneyTests(E2EFixture fixture, ITestOutputHelper output) : IClassFixture<E2EFixture>
{
    private static async Task<string> SignedUpAsync(Journey journey, string who)
    {
        var email = AccountSteps.NewEmail(who);
        await AccountSteps.RegisterAsync(journey, email);
        await AccountSteps.ConfirmFromMailboxAsync(journey, email);
        await journey.GotoAsync("/Identity/Account/Login");
        await AccountSteps.SignInOnLoginPageAsync(journey, email);
        await Expect(journey.Page.GetByRole(AriaRole.Link, new() { Name = email })).ToBeVisibleAsync();
        return email;
    }

    [Fact]
    public Task SignedInOnTwoBrowsers_SignsOutEverywhereFromTheSessionsPage_TheOtherBrowserIsSignedOut() =>
        Journey.RunAsync(fixture, output, nameof(SignedInOnTwoBrowsers_SignsOutEverywhereFromTheSessionsPage_TheOtherBrowserIsSignedOut), async journey =>
        {
            var page = journey.Page;
            var email = await SignedUpAsync(journey, "traveller");

            await using var otherDevice = await fixture.Browser.NewContextAsync(new() { BaseURL = fixture.App.BaseAddress.ToString() });
            otherDevice.SetDefaultTimeout(30_000);
            var other = await otherDevice.NewPageAsync();
            await other.GotoAsync("/Identity/Account/Login");
            await other.GetByLabel("Email", new() { Exact = true }).FillAsync(email);
            await other.GetByLabel("Password", new() { Exact = true }).FillAsync(AccountSteps.Password);
            await other.GetByRole(AriaRole.Button, new() { Name = "Sign in", Exact = true }).ClickAsync();
            await Expect(other.GetByRole(AriaRole.Link, new() { Name = email })).ToBeVisibleAsync();

            await page.GetByRole(AriaRole.Link, new() { Name = "Sessions", Exact = true }).ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Sessions", Exact = true })).ToBeVisibleAsync();
            await Expect(page.GetByTestId("session-row")).ToHaveCountAsync(2);
            await Expect(page.GetByTestId("this-session")).ToHaveCountAsync(1);
            await journey.ShotAsync("two-sessions");

            await page.GetByTestId("sign-out-everywhere").ClickAsync();
            await Expect(page.GetByTestId("sessions-status")).ToHaveTextAsync("Signed out of 1 other session.");
            await Expect(page.GetByTestId("session-row")).ToHaveCountAsync(1);
            await journey.ShotAsync("signed-out-everywhere");

            await other.GotoAsync("/account/api-keys");
            await Expect(other).ToHaveURLAsync(new Regex("/Identity/Account/Login", RegexOptions.IgnoreCase));

            // This browser is still signed in, until it signs out from the header.
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign out", Exact = true }).ClickAsync();
            await Expect(page.GetByRole(AriaRole.Banner).GetByRole(AriaRole.Link, new() { Name = "Sign in", Exact = true })).ToBeVisibleAsync();
            await journey.GotoAsync("/account/sessions");
            await Expect(page).ToHaveURLAsync(new Regex("/Identity/Account/Login", RegexOptions.IgnoreCase));
            await journey.ShotAsync("signed-out");
        });

    [Fact]
    public Task CreatesAReadOnlyKey_SeesItsScopesListed_AndTheKeyCannotGenerate() =>
        Journey.RunAsync(fixture, output, nameof(CreatesAReadOnlyKey_SeesItsScopesListed_AndTheKeyCannotGenerate), async journey =>
        {
            var page = journey.Page;
            await SignedUpAsync(journey, "integrator");

            await page.GetByRole(AriaRole.Link, new() { Name = "API keys", Exact = true }).ClickAsync();
            var generate = page.GetByLabel("generate", new() { Exact = true });
            var read = page.GetByLabel("read", new() { Exact = true });
            await Expect(generate).ToBeCheckedAsync();
            await Expect(read).ToBeCheckedAsync();
            await Expect(page.GetByLabel("admin", new() { Exact = true })).ToHaveCountAsync(0);

            await page.GetByLabel("Name", new() { Exact = true }).FillAsync("dashboard reader");
            await generate.UncheckAsync();
            await journey.ShotAsync("read-only-chosen");
            await page.GetByRole(AriaRole.Button, new() { Name = "Create key" }).ClickAsync();

            var key = await page.GetByTestId("new-api-key").InputValueAsync();
            Assert.StartsWith("gsk_", key);
            var row = page.GetByTestId("api-key-row").Filter(new() { HasText = "dashboard reader" });
            await Expect(row.GetByTestId("api-key-scopes-cell")).ToHaveTextAsync("read");
            await journey.ShotAsync("key-listed-with-scopes");

            var refused = await page.APIRequest.PostAsync("/api/v1/generations", new()
            {
                Headers = new Dictionary<string, string> { ["Authorization"] = $"Bearer {key}" },
                DataObject = new { prompt = "not allowed" },
            });
            Assert.Equal(403, refused.Status);
            Assert.Equal("insufficient_scope", JsonDocument.Parse(await refused.TextAsync()).RootElement.GetProperty("code").GetString());
            var listed = await page.APIRequest.GetAsync("/api/v1/generations", new()
            {
                Headers = new Dictionary<string, string> { ["Authorization"] = $"Bearer {key}" },
            });
            Assert.Equal(200, listed.Status);
        });
}
