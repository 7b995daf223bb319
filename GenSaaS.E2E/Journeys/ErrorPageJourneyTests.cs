using System.Text.RegularExpressions;
using GenSaaS.E2E.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace GenSaaS.E2E.Journeys;

/// <summary>A wrong address or a closed page is not a dead end: the site's own 404 and 403 pages, in its layout, with a way on.</summary>
public sealed class ErrorPageJourneyTests(E2EFixture fixture, ITestOutputHelper output) : IClassFixture<E2EFixture>
{
    [Fact]
    public Task UnknownAddress_ShowsTheSitesOwn404_WithItsNavigation_AndAWayBack() =>
        Journey.RunAsync(fixture, output, nameof(UnknownAddress_ShowsTheSitesOwn404_WithItsNavigation_AndAWayBack), async journey =>
        {
            var page = journey.Page;
            var response = await page.GotoAsync("/this-page-does-not-exist");
            Assert.Equal(404, response!.Status);
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "We could not find that page." })).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "GenSaaS" }).First).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Sign up" })).ToBeVisibleAsync();
            await journey.ShotAsync("404-visitor");

            await page.GetByTestId("error-home").ClickAsync();
            await Expect(page).ToHaveURLAsync(new Regex("/$"));

            var email = AccountSteps.NewEmail("lost");
            await AccountSteps.RegisterAsync(journey, email);
            await AccountSteps.ConfirmFromMailboxAsync(journey, email);
            await journey.GotoAsync("/Identity/Account/Login");
            await AccountSteps.SignInOnLoginPageAsync(journey, email);
            await Expect(page).ToHaveURLAsync(new Regex("/dashboard$"));

            response = await page.GotoAsync("/generate/nothing-here");
            Assert.Equal(404, response!.Status);
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Dashboard", Exact = true })).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = email })).ToBeVisibleAsync();
            await journey.ShotAsync("404-signed-in");
            await page.GetByTestId("error-home").ClickAsync();
            await Expect(page).ToHaveURLAsync(new Regex("/dashboard$"));

            // The operator's pages are closed to a customer: the site's own 403, still with the navigation and a way back.
            response = await page.GotoAsync("/admin");
            Assert.Equal(403, response!.Status);
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "This page is not open to your account." })).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Dashboard", Exact = true })).ToBeVisibleAsync();
            await journey.ShotAsync("403-customer-on-admin");
            await page.GetByTestId("error-home").ClickAsync();
            await Expect(page).ToHaveURLAsync(new Regex("/dashboard$"));
        });
}
