using System.Text.RegularExpressions;
using GenSaaS.E2E.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace GenSaaS.E2E.Journeys;

/// <summary>Buying credits in the browser, through the Stripe emulator's hosted checkout page and its signed webhooks.</summary>
public sealed class BillingJourneyTests(E2EFixture fixture, ITestOutputHelper output) : IClassFixture<E2EFixture>
{
    [Fact]
    public Task NewUser_BuysBundle10With4242_GetsTenMoreCredits_AndGeneratingSpendsOne() =>
        Journey.RunAsync(fixture, output, nameof(NewUser_BuysBundle10With4242_GetsTenMoreCredits_AndGeneratingSpendsOne), async journey =>
        {
            var page = journey.Page;
            var credits = HeaderCredits(page);
            var email = await SignedUpAsync(journey, "buyer");

            await journey.GotoAsync("/billing");
            var before = int.Parse(await credits.InnerTextAsync());
            await journey.ShotAsync("plans");

            await PayForBundle10Async(journey, email, "4242 4242 4242 4242");
            await Expect(page).ToHaveURLAsync(new Regex("/billing/success", RegexOptions.IgnoreCase));
            // Credits arrive from the signed checkout.session.completed webhook; the page polls until they do.
            await Expect(page.GetByTestId("purchase-confirmed")).ToBeVisibleAsync(new() { Timeout = 30_000 });
            await journey.GotoAsync("/generate");
            await Expect(credits).ToHaveTextAsync((before + 10).ToString());
            await journey.ShotAsync("ten-more-credits");

            await page.GetByLabel("Prompt", new() { Exact = true }).FillAsync("A paper boat on a puddle");
            await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();
            await Expect(page.GetByTestId("generation-thumbnail")).ToBeVisibleAsync(new() { Timeout = 60_000 });
            await Expect(credits).ToHaveTextAsync((before + 9).ToString());
            await journey.ShotAsync("one-fewer");
        });

    [Fact]
    public Task DeclinedCard_ShowsStripesMessage_AndGrantsNothing() =>
        Journey.RunAsync(fixture, output, nameof(DeclinedCard_ShowsStripesMessage_AndGrantsNothing), async journey =>
        {
            var page = journey.Page;
            var credits = HeaderCredits(page);
            var email = await SignedUpAsync(journey, "declined");

            await journey.GotoAsync("/billing");
            var before = await credits.InnerTextAsync();

            await PayForBundle10Async(journey, email, "4000 0000 0000 0002");
            await Expect(page.GetByText("Your card was declined.")).ToBeVisibleAsync();
            await Expect(page.GetByLabel("Card number")).ToBeVisibleAsync();
            await journey.ShotAsync("declined");

            // Give any webhook that should not exist time to arrive, then check nothing was granted.
            await page.WaitForTimeoutAsync(2_000);
            await journey.GotoAsync("/billing");
            await Expect(credits).ToHaveTextAsync(before);
            await journey.ShotAsync("nothing-granted");
        });

    private static ILocator HeaderCredits(IPage page) => page.Locator("header").GetByTestId("credits-remaining");

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

    private static async Task PayForBundle10Async(Journey journey, string email, string card)
    {
        var page = journey.Page;
        await page.GetByTestId("choose-bundle_10").ClickAsync();
        await Expect(page.GetByLabel("Card number")).ToBeVisibleAsync();
        var emailField = page.GetByLabel("Email", new() { Exact = true });
        if (await emailField.IsEditableAsync())
            await emailField.FillAsync(email);
        await page.GetByLabel("Card number").FillAsync(card);
        await journey.ShotAsync("checkout");
        await page.GetByRole(AriaRole.Button, new() { Name = "Pay", Exact = true }).ClickAsync();
    }
}
