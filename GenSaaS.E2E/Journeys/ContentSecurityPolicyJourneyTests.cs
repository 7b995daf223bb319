using System.Text.RegularExpressions;
using GenSaaS.E2E.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace GenSaaS.E2E.Journeys;

/// <summary>
/// Every page under the strict Content-Security-Policy: the browser reports each refused script or style on the console and as a
/// <c>securitypolicyviolation</c> event, so a page that still depends on inline code shows up here.
/// </summary>
public sealed class ContentSecurityPolicyJourneyTests(E2EFixture fixture, ITestOutputHelper output) : IClassFixture<E2EFixture>
{
    /// <summary>Runs in every document before its own scripts; Playwright injects it outside the page's policy.</summary>
    private const string ReportViolations = """
        document.addEventListener('securitypolicyviolation', e =>
            console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber));
        """;

    [Fact]
    public Task EveryPage_WorksUnderTheContentSecurityPolicy_WithoutConsoleErrors() =>
        Journey.RunAsync(fixture, output, nameof(EveryPage_WorksUnderTheContentSecurityPolicy_WithoutConsoleErrors), async journey =>
        {
            var page = journey.Page;
            var problems = new List<string>();
            await page.Context.AddInitScriptAsync(ReportViolations);
            page.Console += (_, message) =>
            {
                if (message.Type is "error" or "warning")
                    problems.Add($"{page.Url}: console {message.Type}: {message.Text}");
            };
            page.PageError += (_, error) => problems.Add($"{page.Url}: page error: {error}");

            async Task VisitAsync(string path, string step)
            {
                await journey.GotoAsync(path);
                await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
                await journey.ShotAsync(step);
            }

            await VisitAsync("/", "landing");
            await VisitAsync("/Identity/Account/Login", "sign-in");
            await VisitAsync("/Identity/Account/Register", "register");

            var email = AccountSteps.NewEmail("csp");
            await AccountSteps.RegisterAsync(journey, email);
            await AccountSteps.ConfirmFromMailboxAsync(journey, email);
            await journey.GotoAsync("/Identity/Account/Login");
            await AccountSteps.SignInOnLoginPageAsync(journey, email);
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = email })).ToBeVisibleAsync();

            await VisitAsync("/dashboard", "dashboard");
            await VisitAsync("/generate", "generate");
            await page.GetByLabel("Prompt", new() { Exact = true }).FillAsync("A kite over a windy beach");
            await page.GetByRole(AriaRole.Button, new() { Name = "Generate", Exact = true }).ClickAsync();
            await Expect(page.GetByTestId("generation-thumbnail")).ToBeVisibleAsync(new() { Timeout = 60_000 });
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await journey.ShotAsync("generated-through-htmx");

            await VisitAsync("/billing", "billing");
            await page.GetByTestId("choose-pay_per_use").ClickAsync();
            await Expect(page.GetByLabel("Card number")).ToBeVisibleAsync();
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await journey.ShotAsync("emulator-checkout");
            var emailField = page.GetByLabel("Email", new() { Exact = true });
            if (await emailField.IsEditableAsync())
                await emailField.FillAsync(email);
            await page.GetByLabel("Card number").FillAsync("4242 4242 4242 4242");
            await page.GetByRole(AriaRole.Button, new() { NameRegex = new Regex("^(Pay|Save|Save card|Subscribe|Set up)", RegexOptions.IgnoreCase) }).First.ClickAsync();
            await Expect(page).ToHaveURLAsync(new Regex("/billing/success"));
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await journey.ShotAsync("checkout-success");

            // The card arrives by webhook; the page shows the portal button once it has.
            var manage = page.GetByTestId("manage-billing");
            for (var attempt = 0; attempt < 30 && await manage.CountAsync() == 0; attempt++)
            {
                await Task.Delay(1000);
                await journey.GotoAsync("/billing");
            }
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await journey.ShotAsync("billing-with-card");
            await manage.ClickAsync();
            await Expect(page).ToHaveURLAsync(new Regex("/emulator/portal/"));
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await journey.ShotAsync("emulator-portal");

            await VisitAsync("/account/api-keys", "api-keys");
            await VisitAsync("/Identity/Account/Manage", "manage-account");

            await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
            await AccountSteps.SignInAsNewAccountAsync(fixture, journey, "csp-admin", admin: true);

            await VisitAsync("/admin", "admin");
            await VisitAsync("/admin/billing/events", "admin-events");
            await VisitAsync("/hangfire", "hangfire");
            await VisitAsync("/hangfire/jobs/succeeded", "hangfire-succeeded");
            await VisitAsync("/dev/mailbox", "dev-mailbox");
            await VisitAsync("/emulator/dev", "emulator-dev");

            Assert.True(problems.Count == 0, "The browser reported:\n" + string.Join("\n", problems));
        });
}
