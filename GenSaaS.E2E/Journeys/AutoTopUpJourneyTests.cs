using System.Text.RegularExpressions;
using GenSaaS.E2E.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace GenSaaS.E2E.Journeys;

/// <summary>Auto top-up in the browser: save a card, turn it on, and watch it buy a bundle when the credits run out.</summary>
public sealed class AutoTopUpJourneyTests(E2EFixture fixture, ITestOutputHelper output) : IClassFixture<E2EFixture>
{
    [Fact]
    public Task Customer_TurnsOnAutoTopUp_AndItBuysABundleWhenCreditsRunOut() =>
        Journey.RunAsync(fixture, output, nameof(Customer_TurnsOnAutoTopUp_AndItBuysABundleWhenCreditsRunOut), async journey =>
        {
            var page = journey.Page;
            var credits = page.Locator("header").GetByTestId("credits-remaining");
            var email = AccountSteps.NewEmail("autotopup");
            await AccountSteps.RegisterAsync(journey, email);
            await AccountSteps.ConfirmFromMailboxAsync(journey, email);
            await journey.GotoAsync("/Identity/Account/Login");
            await AccountSteps.SignInOnLoginPageAsync(journey, email);
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = email })).ToBeVisibleAsync();

            // Save a card (Stripe's hosted page in setup mode).
            await journey.GotoAsync("/billing");
            await page.GetByTestId("choose-pay_per_use").ClickAsync();
            await page.GetByLabel("Card number").FillAsync("4242 4242 4242 4242");
            await page.GetByRole(AriaRole.Button, new() { Name = "Pay", Exact = true }).ClickAsync();
            await Expect(page).ToHaveURLAsync(new Regex("/billing/success", RegexOptions.IgnoreCase));
            await journey.GotoAsync("/billing");
            for (var i = 0; i < 30 && !await page.GetByTestId("saved-card").IsVisibleAsync(); i++)
            {
                await page.WaitForTimeoutAsync(500);
                await journey.GotoAsync("/billing");
            }
            await Expect(page.GetByTestId("saved-card")).ToContainTextAsync("4242");
            await journey.ShotAsync("card-saved");

            // Turn auto top-up on: below 2 credits buy 10, at most 8.00 a month.
            var form = page.GetByTestId("auto-top-up");
            await form.GetByLabel("Buy a bundle automatically when my prepaid credits run low").CheckAsync();
            await form.GetByLabel("When prepaid credits fall below (credits)").FillAsync("2");
            await form.GetByLabel("Buy", new() { Exact = true }).SelectOptionAsync("bundle_10");
            await form.GetByLabel(new Regex("Charge at most per calendar month")).FillAsync("8");
            await journey.ShotAsync("auto-top-up-form");
            await form.GetByRole(AriaRole.Button, new() { Name = "Save auto top-up" }).ClickAsync();
            await Expect(page.GetByTestId("status-message")).ToContainTextAsync("Auto top-up is on");
            await Expect(page.GetByTestId("auto-top-up-max-more")).ToHaveTextAsync("8.00 USD");
            await journey.ShotAsync("auto-top-up-on");

            // Spend the trial credits; the next image finds none, auto top-up buys 10 and that image is paid from them.
            await journey.GotoAsync("/generate");
            var start = int.Parse(await credits.InnerTextAsync());
            for (var left = start; left > 0; left--)
            {
                await GenerateAsync(page, $"A lighthouse at dusk {left}");
                await Expect(credits).ToHaveTextAsync((left - 1).ToString());
            }
            await journey.ShotAsync("credits-run-out");
            await GenerateAsync(page, "A kite over the dunes");
            await Expect(credits).ToHaveTextAsync("9", new() { Timeout = 30_000 });
            await journey.ShotAsync("topped-up-and-generated");

            await journey.GotoAsync("/billing");
            await Expect(page.GetByTestId("auto-top-up-charged")).ToHaveTextAsync("4.00 USD");
            await Expect(page.GetByTestId("auto-top-up-max-more")).ToHaveTextAsync("4.00 USD");
            await journey.ShotAsync("billing-after-top-up");
        });

    private static async Task GenerateAsync(IPage page, string prompt)
    {
        await page.GetByLabel("Prompt", new() { Exact = true }).FillAsync(prompt);
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();
        await Expect(page.GetByAltText($"Thumbnail of {prompt}")).ToBeVisibleAsync(new() { Timeout = 60_000 });
    }
}
