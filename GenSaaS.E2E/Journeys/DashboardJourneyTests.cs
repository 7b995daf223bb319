using System.Text.RegularExpressions;
using GenSaaS.E2E.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace GenSaaS.E2E.Journeys;

/// <summary>What a customer sees of their account: the dashboard's chart of the last 30 days and the credit history.</summary>
public sealed class DashboardJourneyTests(E2EFixture fixture, ITestOutputHelper output) : IClassFixture<E2EFixture>
{
    [Fact]
    public Task Customer_SeesTodaysImagesOnTheChart_AndPagesThroughTheCreditHistory() =>
        Journey.RunAsync(fixture, output, nameof(Customer_SeesTodaysImagesOnTheChart_AndPagesThroughTheCreditHistory), async journey =>
        {
            var page = journey.Page;
            var email = AccountSteps.NewEmail("dashboard");
            await fixture.App.RunCliAsync("users", "add", "--email", email, "--password", AccountSteps.Password, "--confirmed");
            await fixture.App.RunCliAsync("credits", "grant", "--email", email, "--amount", "12", "--reason", "Welcome pack");
            await journey.GotoAsync("/Identity/Account/Login");
            await AccountSteps.SignInOnLoginPageAsync(journey, email);
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = email })).ToBeVisibleAsync();

            await journey.GotoAsync("/generate");
            foreach (var prompt in new[] { "A fox in the snow", "A kite over the sea" })
            {
                await page.GetByLabel("Prompt", new() { Exact = true }).FillAsync(prompt);
                await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();
                await Expect(page.GetByTestId("history-item").Filter(new() { HasText = prompt })).ToHaveCountAsync(1, new() { Timeout = 60_000 });
            }

            await journey.GotoAsync("/dashboard");
            var chart = page.GetByRole(AriaRole.Img, new() { Name = "Images per day, last 30 days" });
            await Expect(chart).ToBeVisibleAsync();
            var today = DateTime.UtcNow.ToString("yyyy-MM-dd");
            await Expect(chart.Locator($"rect[data-day='{today}']")).ToHaveAttributeAsync("data-value", "2");
            await Expect(page.GetByTestId("chart-bar")).ToHaveCountAsync(30);
            await journey.ShotAsync("dashboard-chart");

            await page.GetByText("Show the figures as a table").ClickAsync();
            var todayRow = page.GetByTestId("activity-row").Filter(new() { Has = page.Locator($"time[datetime='{today}']") });
            await Expect(todayRow.GetByTestId("activity-generations")).ToHaveTextAsync("2");
            await journey.ShotAsync("dashboard-table");

            await page.GetByTestId("credit-history-link").ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Credit history" })).ToBeVisibleAsync();
            await Expect(page.GetByTestId("credit-line").First).ToContainTextAsync("generation");
            await Expect(page.GetByTestId("credit-line").Filter(new() { HasText = "Welcome pack" })).ToHaveCountAsync(1);
            await journey.ShotAsync("credit-history");

            // Each image's line leads to its receipt: the image, its usage, the ledger line that took its credit.
            await page.GetByTestId("credit-receipt-link").First.ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Receipt for an image" })).ToBeVisibleAsync();
            await Expect(page.GetByTestId("receipt-funding")).ToHaveTextAsync(new Regex("^(free trial|prepaid) credits$"));
            await Expect(page.GetByTestId("receipt-ledger-line")).ToHaveCountAsync(1);
            await journey.ShotAsync("image-receipt");

            // Two lines a page: the Older link swaps the next page in (htmx) and the address follows.
            await journey.GotoAsync("/dashboard/credits?limit=2");
            await Expect(page.GetByTestId("credit-line")).ToHaveCountAsync(2);
            var newestTwo = await page.GetByTestId("credit-line").AllInnerTextsAsync();
            await page.GetByTestId("credit-history-older").ClickAsync();
            await Expect(page).ToHaveURLAsync(new Regex("starting_after=cl_[0-9]+"));
            await Expect(page.GetByTestId("credit-history-newest")).ToBeVisibleAsync();
            var next = await page.GetByTestId("credit-line").AllInnerTextsAsync();
            Assert.NotEmpty(next);
            Assert.Empty(next.Intersect(newestTwo));
            await journey.ShotAsync("credit-history-older");
        });
}
