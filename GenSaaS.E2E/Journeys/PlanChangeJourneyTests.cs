using System.Text.RegularExpressions;
using GenSaaS.E2E.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace GenSaaS.E2E.Journeys;

/// <summary>
/// A customer's plan changes in the browser: subscribe through the preview and the emulator's Checkout, be refused a second
/// plan, cancel and resume it, and switch to pay per use (saving a card first).
/// </summary>
public sealed class PlanChangeJourneyTests(E2EFixture fixture, ITestOutputHelper output) : IClassFixture<E2EFixture>
{
    [Fact]
    public Task Customer_Subscribes_IsRefusedASecondPlan_CancelsAndResumes_ThenSwitchesToPayPerUse() =>
        Journey.RunAsync(fixture, output, nameof(Customer_Subscribes_IsRefusedASecondPlan_CancelsAndResumes_ThenSwitchesToPayPerUse), async journey =>
        {
            var page = journey.Page;
            var email = await AccountSteps.SignInAsNewAccountAsync(fixture, journey, "plans");

            // Subscribe: the preview says what it costs and when, then Stripe's Checkout takes the card.
            await journey.GotoAsync("/billing");
            await page.GetByTestId("choose-subscription_unlimited").ClickAsync();
            await Expect(page).ToHaveURLAsync(new Regex("/billing/plan/subscribe$"));
            await Expect(page.GetByTestId("price")).ToContainTextAsync("19.00 USD");
            await Expect(page.GetByTestId("first-charge")).ToContainTextAsync("charged now");
            await Expect(page.GetByTestId("renews")).ToContainTextAsync(DateTime.UtcNow.AddMonths(1).ToString("yyyy-MM"));
            await journey.ShotAsync("subscribe-preview");
            await page.GetByTestId("confirm-subscribe").ClickAsync();
            await PayAsync(journey, email, "checkout-subscription");
            await Expect(page.GetByTestId("purchase-confirmed")).ToBeVisibleAsync(new() { Timeout = 30_000 });
            await journey.GotoAsync("/billing");
            await Expect(page.GetByTestId("current-plan")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("choose-subscription_unlimited")).ToHaveCountAsync(0);
            await journey.ShotAsync("subscribed");

            // A second plan is refused, with the way to manage the one there is.
            await journey.GotoAsync("/billing/plan/subscribe");
            await Expect(page.GetByTestId("already-subscribed")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("confirm-subscribe")).ToHaveCountAsync(0);
            await journey.ShotAsync("second-plan-refused");

            // Cancel at period end, then resume.
            await journey.GotoAsync("/billing");
            await page.GetByTestId("cancel-plan").ClickAsync();
            await Expect(page.GetByTestId("takes-effect")).ToContainTextAsync("At the end of this period");
            await journey.ShotAsync("cancel-confirm");
            await page.GetByTestId("confirm-cancel").ClickAsync();
            await Expect(page).ToHaveURLAsync(new Regex("/billing$"));
            await Expect(page.GetByTestId("status-message")).ToContainTextAsync("Your plan is canceled at the end of this period");
            await Expect(page.GetByTestId("resume-plan")).ToBeVisibleAsync();
            await journey.ShotAsync("canceled");
            await page.GetByTestId("resume-plan").ClickAsync();
            await Expect(page.GetByTestId("takes-effect")).ToContainTextAsync("Now.");
            await journey.ShotAsync("resume-confirm");
            await page.GetByTestId("confirm-resume").ClickAsync();
            await Expect(page.GetByTestId("status-message")).ToContainTextAsync("Your plan continues");
            await Expect(page.GetByTestId("cancel-plan")).ToBeVisibleAsync();
            await journey.ShotAsync("resumed");

            // Switch to pay per use: no card is saved for it yet, so that comes first; the success page leads back.
            await page.GetByTestId("switch-pay-per-use").ClickAsync();
            await Expect(page.GetByTestId("save-card-first")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("cost")).ToContainTextAsync("0.50 USD per image");
            await journey.ShotAsync("pay-per-use-needs-card");
            await page.GetByTestId("save-card").ClickAsync();
            await PayAsync(journey, email, "checkout-save-card");
            await page.GetByTestId("continue-next").ClickAsync(new() { Timeout = 30_000 });
            await Expect(page).ToHaveURLAsync(new Regex("/billing/plan/pay-per-use$"));
            for (var i = 0; i < 30 && !await page.GetByTestId("confirm-pay-per-use").IsVisibleAsync(); i++)
            {
                // The card is stored when Stripe's webhook (or the success page) has it; until then the page asks for one.
                await page.WaitForTimeoutAsync(500);
                await journey.GotoAsync("/billing/plan/pay-per-use");
            }
            await Expect(page.GetByTestId("saved-card")).ToContainTextAsync("4242");
            await Expect(page.GetByTestId("takes-effect")).ToContainTextAsync("At the end of this period");
            await journey.ShotAsync("pay-per-use-confirm");
            await page.GetByTestId("confirm-pay-per-use").ClickAsync();
            await Expect(page).ToHaveURLAsync(new Regex("/billing$"));
            await Expect(page.GetByTestId("status-message")).ToContainTextAsync("Switched to pay per use");
            await Expect(page.GetByTestId("next-billing-date")).ToBeVisibleAsync();
            await journey.ShotAsync("switched-to-pay-per-use");
        });

    /// <summary>Types the test card on the emulator's hosted Checkout page and presses its button, landing on the success page.</summary>
    private static async Task PayAsync(Journey journey, string email, string shot)
    {
        var page = journey.Page;
        await Expect(page.GetByLabel("Card number")).ToBeVisibleAsync();
        var emailField = page.GetByLabel("Email", new() { Exact = true });
        if (await emailField.IsEditableAsync())
            await emailField.FillAsync(email);
        await page.GetByLabel("Card number").FillAsync("4242 4242 4242 4242");
        await journey.ShotAsync(shot);
        await page.GetByRole(AriaRole.Button, new() { Name = "Pay", Exact = true }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/billing/success", RegexOptions.IgnoreCase));
    }
}
