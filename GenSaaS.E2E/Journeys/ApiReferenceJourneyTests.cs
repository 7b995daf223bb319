using GenSaaS.E2E.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace GenSaaS.E2E.Journeys;

/// <summary>
/// A developer opens the API reference: Scalar renders the app's own OpenAPI document, from the app's own files, under the
/// page's Content-Security-Policy, and asks for nothing from anywhere else.
/// </summary>
public sealed class ApiReferenceJourneyTests(E2EFixture fixture, ITestOutputHelper output) : IClassFixture<E2EFixture>
{
    private const string ReportViolations = """
        document.addEventListener('securitypolicyviolation', e =>
            console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber));
        """;

    [Fact]
    public Task ApiReference_RendersTheRoutes_FromTheAppsOwnFiles_WithoutPolicyViolations() =>
        Journey.RunAsync(fixture, output, nameof(ApiReference_RendersTheRoutes_FromTheAppsOwnFiles_WithoutPolicyViolations), async journey =>
        {
            var page = journey.Page;
            var problems = new List<string>();
            var elsewhere = new List<string>();
            await page.Context.AddInitScriptAsync(ReportViolations);
            page.Console += (_, message) =>
            {
                if (message.Type is "error")
                    problems.Add($"{page.Url}: console {message.Type}: {message.Text}");
            };
            page.PageError += (_, error) => problems.Add($"{page.Url}: page error: {error}");
            page.Request += (_, request) =>
            {
                if (!request.Url.StartsWith(journey.BaseAddress.ToString().TrimEnd('/'), StringComparison.Ordinal)
                    && !request.Url.StartsWith("data:", StringComparison.Ordinal) && !request.Url.StartsWith("blob:", StringComparison.Ordinal))
                    elsewhere.Add(request.Url);
            };

            await journey.GotoAsync("/api/docs");
            await Expect(page.GetByText("GenSaaS API").First).ToBeVisibleAsync(new() { Timeout = 60_000 });
            await Expect(page.GetByText("Generate an image").First).ToBeVisibleAsync();
            await Expect(page.GetByText("Credit history, newest first").First).ToBeVisibleAsync();
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await journey.ShotAsync("api-reference");

            // Not a dead end: the bar above the reference leads back into the site.
            await page.GetByTestId("api-reference-bar").GetByRole(AriaRole.Link, new() { Name = "API keys" }).ClickAsync();
            await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/Identity/Account/Login"));
            await journey.ShotAsync("api-keys-asks-to-sign-in");

            Assert.True(problems.Count == 0, "The browser reported:\n" + string.Join("\n", problems));
            Assert.True(elsewhere.Count == 0, "The reference asked other hosts for:\n" + string.Join("\n", elsewhere));
        });
}
