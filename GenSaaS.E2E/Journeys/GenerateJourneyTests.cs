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
            await page.GetByLabel("Prompt", new() { Exact = true }).FillAsync(prompt);
            await journey.ShotAsync("prompt-filled");

            // A full navigation would wipe this marker; htmx swapping the result in keeps it.
            await page.EvaluateAsync("() => { window.e2eSameDocument = true; }");
            await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();

            var thumbnail = page.GetByTestId("generation-thumbnail");
            await Expect(thumbnail).ToBeVisibleAsync(new() { Timeout = 60_000 });
            var image = page.GetByRole(AriaRole.Img, new() { Name = prompt, Exact = true });
            await Expect(image).ToBeVisibleAsync();
            await Expect(page.GetByTestId("generation-error")).ToHaveCountAsync(0);
            Assert.True(await IsLoadedAsync(image), "the generated image did not load");
            Assert.True(await IsLoadedAsync(thumbnail), "the thumbnail did not load");
            Assert.True(await page.EvaluateAsync<bool>("() => window.e2eSameDocument === true"), "generating reloaded the page");
            Assert.EndsWith("/generate", page.Url);
            await journey.ShotAsync("generated");

            await journey.GotoAsync("/generate");
            var history = page.GetByRole(AriaRole.List).Filter(new() { Has = page.GetByRole(AriaRole.Img, new() { Name = prompt, Exact = true }) });
            await Expect(history.GetByRole(AriaRole.Listitem)).ToHaveCountAsync(1);
            await Expect(history.GetByRole(AriaRole.Listitem).First).ToContainTextAsync(prompt);
            Assert.True(await IsLoadedAsync(history.GetByRole(AriaRole.Img, new() { Name = prompt, Exact = true })), "the history thumbnail did not load");
            await Expect(page.GetByText("Nothing yet")).ToHaveCountAsync(0);
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
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Log in", Exact = true })).ToBeVisibleAsync();
            await Expect(page.GetByLabel("Prompt")).ToHaveCountAsync(0);
            await journey.ShotAsync("redirected-to-sign-in");

            await AccountSteps.SignInOnLoginPageAsync(journey, email);
            await Expect(page).ToHaveURLAsync(new Regex("/generate$"));
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Generate an image" })).ToBeVisibleAsync();
            await Expect(page.GetByLabel("Prompt", new() { Exact = true })).ToBeEditableAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = email })).ToBeVisibleAsync();
            await journey.ShotAsync("back-on-generate");
        });

    /// <summary>True once the browser has decoded the picture, i.e. the image URL really served an image.</summary>
    private static Task<bool> IsLoadedAsync(ILocator image) =>
        image.EvaluateAsync<bool>("img => img.complete && img.naturalWidth > 0");
}
