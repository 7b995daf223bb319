using System.Text.RegularExpressions;
using GenSaaS.E2E.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace GenSaaS.E2E.Journeys;

public sealed class GenerateJourneyTests(E2EFixture fixture, ITestOutputHelper output) : IClassFixture<E2EFixture>
{
    [Fact]
    public Task NewUser_RegistersConfirmsSignsInAndGenerates_SeesImageAndHistoryWithoutReload() =>
        Journey.RunAsync(fixture, output, nameof(NewUser_RegistersConfirmsSignsInAndGenerates_SeesImageAndHistoryWithoutReload), async journey =>
        {
            var page = journey.Page;
            var email = AccountSteps.NewEmail("maker");
            const string prompt = "A lighthouse on a cliff at dusk, in watercolour";

            await AccountSteps.RegisterAsync(journey, email);
            await AccountSteps.ConfirmFromMailboxAsync(journey, email);

            await journey.GotoAsync("/Identity/Account/Login");
            await AccountSteps.SignInOnLoginPageAsync(journey, email);
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = email })).ToBeVisibleAsync();
            await journey.ShotAsync("signed-in");

            await journey.GotoAsync("/generate");
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Generate an image" })).ToBeVisibleAsync();
            await Expect(page.GetByText("Nothing yet")).ToBeVisibleAsync();
            var creditsBefore = int.Parse(await page.GetByTestId("credits-remaining").InnerTextAsync());
            Assert.True(creditsBefore > 0, "a new account starts with trial credits");
            await page.GetByLabel("Prompt", new() { Exact = true }).FillAsync(prompt);
            await journey.ShotAsync("prompt-filled");

            // A full navigation would wipe this marker; htmx swapping the result in keeps it.
            await page.EvaluateAsync("() => { window.e2eSameDocument = true; }");
            await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();

            var thumbnail = page.GetByTestId("generation-thumbnail");
            await Expect(thumbnail).ToBeVisibleAsync(new() { Timeout = 60_000 });
            var image = page.GetByRole(AriaRole.Figure).GetByRole(AriaRole.Img, new() { Name = prompt, Exact = true });
            await Expect(image).ToBeVisibleAsync();
            await Expect(page.GetByTestId("generation-error")).ToHaveCountAsync(0);
            Assert.True(await IsLoadedAsync(image), "the generated image did not load");
            Assert.True(await IsLoadedAsync(thumbnail), "the thumbnail did not load");
            Assert.True(await page.EvaluateAsync<bool>("() => window.e2eSameDocument === true"), "generating reloaded the page");
            Assert.EndsWith("/generate", page.Url);
            await Expect(HistoryItems(page, prompt)).ToHaveCountAsync(1);
            await Expect(page.GetByText("Nothing yet")).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("credits-remaining")).ToHaveTextAsync((creditsBefore - 1).ToString());
            await journey.ShotAsync("generated");

            await journey.GotoAsync("/generate");
            var items = HistoryItems(page, prompt);
            await Expect(items).ToHaveCountAsync(1);
            await Expect(items).ToContainTextAsync(prompt);
            Assert.True(await IsLoadedAsync(items.GetByRole(AriaRole.Img, new() { Name = prompt, Exact = true })), "the history thumbnail did not load");
            await journey.ShotAsync("history");
        });

    [Fact]
    public Task AnonymousVisitToGenerate_EndsOnSignIn_AndSigningInReturnsToGenerate() =>
        Journey.RunAsync(fixture, output, nameof(AnonymousVisitToGenerate_EndsOnSignIn_AndSigningInReturnsToGenerate), async journey =>
        {
            var page = journey.Page;
            var email = AccountSteps.NewEmail("returner");
            await AccountSteps.RegisterAsync(journey, email);
            await AccountSteps.ConfirmFromMailboxAsync(journey, email);

            await journey.GotoAsync("/generate");
            await Expect(page).ToHaveURLAsync(new Regex(@"/Identity/Account/Login\?ReturnUrl=%2Fgenerate$", RegexOptions.IgnoreCase));
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Sign in", Exact = true })).ToBeVisibleAsync();
            await Expect(page.GetByLabel("Prompt")).ToHaveCountAsync(0);
            await journey.ShotAsync("redirected-to-sign-in");

            await AccountSteps.SignInOnLoginPageAsync(journey, email);
            await Expect(page).ToHaveURLAsync(new Regex("/generate$"));
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Generate an image" })).ToBeVisibleAsync();
            await Expect(page.GetByLabel("Prompt", new() { Exact = true })).ToBeEditableAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = email })).ToBeVisibleAsync();
            await journey.ShotAsync("back-on-generate");
        });

    /// <summary>The entries of the "Your generations" gallery whose picture is the one made from <paramref name="prompt"/>.</summary>
    private static ILocator HistoryItems(IPage page, string prompt) =>
        page.GetByRole(AriaRole.Listitem).Filter(new() { Has = page.GetByRole(AriaRole.Img, new() { Name = prompt, Exact = true }) });

    /// <summary>True once the browser has decoded the picture, i.e. the image URL really served an image.</summary>
    private static Task<bool> IsLoadedAsync(ILocator image) =>
        image.EvaluateAsync<bool>("img => img.complete && img.naturalWidth > 0");
}
