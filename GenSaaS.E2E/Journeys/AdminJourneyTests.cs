using System.Text.RegularExpressions;
using GenSaaS.E2E.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace GenSaaS.E2E.Journeys;

/// <summary>
/// An operator runs the business from /admin: finds a customer who bought a bundle, reads their timeline and grants them
/// credits with a reason, refunds the bundle and turns billing dark and back with a flag; every step is in the audit log.
/// </summary>
public sealed class AdminJourneyTests(E2EFixture fixture, ITestOutputHelper output) : IClassFixture<E2EFixture>
{
    [Fact]
    public Task Admin_FindsACustomer_ReadsTheTimeline_GrantsCredits_RefundsTheBundle_AndFlipsAFlag() =>
        Journey.RunAsync(fixture, output, nameof(Admin_FindsACustomer_ReadsTheTimeline_GrantsCredits_RefundsTheBundle_AndFlipsAFlag), async journey =>
        {
            var page = journey.Page;

            // A customer signs in and buys ten credits through Stripe's hosted page.
            var customer = await AccountSteps.SignInAsNewAccountAsync(fixture, journey, "customer");
            await journey.GotoAsync("/billing");
            await page.GetByTestId("choose-bundle_10").ClickAsync();
            await page.GetByLabel("Card number").FillAsync("4242 4242 4242 4242");
            await page.GetByRole(AriaRole.Button, new() { Name = "Pay", Exact = true }).ClickAsync();
            await Expect(page.GetByTestId("purchase-confirmed")).ToBeVisibleAsync(new() { Timeout = 30_000 });
            await journey.ShotAsync("customer-bought-bundle");
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();

            // The operator signs in and finds the customer by the start of their email.
            await AccountSteps.SignInAsNewAccountAsync(fixture, journey, "operator", admin: true);
            await journey.GotoAsync("/admin/customers");
            await page.GetByLabel("Email, name or Stripe customer id").FillAsync(customer[..12]);
            await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
            var row = page.GetByTestId("customers").GetByRole(AriaRole.Link, new() { Name = customer });
            await Expect(row).ToBeVisibleAsync();
            await journey.ShotAsync("customer-found");
            await row.ClickAsync();

            // The timeline tells the story: the sign-up, the purchase and its credits.
            await Expect(page.GetByTestId("customer-email")).ToHaveTextAsync(customer);
            var prepaid = page.GetByTestId("prepaid-credits");
            await Expect(prepaid).ToHaveTextAsync("10");
            var timeline = page.GetByTestId("customer-timeline");
            await Expect(timeline.Locator("tr[data-kind='signup']")).ToHaveCountAsync(1);
            await Expect(timeline.Locator("tr[data-kind='payment']").First).ToBeVisibleAsync();
            await Expect(timeline.Locator("tr[data-kind='ledger_line']").Filter(new() { HasText = "+10" }).First).ToBeVisibleAsync();
            await journey.ShotAsync("customer-timeline");

            // Grant five credits with a reason: the form shows what will happen, Confirm does it once.
            var adjust = page.GetByTestId("adjust-credits");
            await adjust.GetByLabel("Credits (negative takes back)").FillAsync("5");
            await adjust.GetByLabel("Reason").FillAsync("Goodwill for a slow week");
            await adjust.GetByTestId("adjust-review").ClickAsync();
            await Expect(page.GetByTestId("adjust-confirmation")).ToContainTextAsync("Goodwill for a slow week");
            await journey.ShotAsync("grant-confirmation");
            await page.GetByTestId("adjust-confirm").ClickAsync();
            await Expect(page.GetByTestId("status-message")).ToBeVisibleAsync();
            await Expect(prepaid).ToHaveTextAsync("15");
            await Expect(timeline.Locator("tr[data-kind='ledger_line']").Filter(new() { HasText = "Goodwill for a slow week" }).First).ToBeVisibleAsync();
            await journey.ShotAsync("credits-granted");

            // Refund the bundle in full: the money goes back through Stripe and its ten credits are taken back.
            var payment = page.GetByTestId("customer-payments").Locator("tr").Filter(new() { HasText = "bundle" });
            await payment.GetByRole(AriaRole.Link, new() { Name = "Refund" }).ClickAsync();
            await Expect(page.GetByTestId("payment-remaining")).ToHaveTextAsync(new Regex("4\\.00"));
            await page.GetByLabel("Reason").FillAsync("Bought by mistake");
            await page.GetByTestId("refund-review").ClickAsync();
            await Expect(page.GetByTestId("refund-confirmation")).ToContainTextAsync("Bought by mistake");
            await journey.ShotAsync("refund-confirmation");
            await page.GetByTestId("refund-confirm").ClickAsync();
            await Expect(page.GetByTestId("customer-email")).ToHaveTextAsync(customer);
            await Expect(page.GetByTestId("status-message")).ToBeVisibleAsync();
            await Expect(prepaid).ToHaveTextAsync("5");
            await Expect(payment.GetByRole(AriaRole.Link, new() { Name = "Refund" })).ToHaveCountAsync(0);
            await journey.ShotAsync("bundle-refunded");

            // Billing goes dark with a flag: the billing page says so at once; turned back on, the notice is gone.
            async Task SetBillingAsync(string state, string reason)
            {
                await journey.GotoAsync("/admin/flags/billing");
                var form = page.GetByTestId("flag-form");
                await form.GetByLabel(state, new() { Exact = true }).CheckAsync();
                await form.GetByLabel("Reason", new() { Exact = true }).FillAsync(reason);
                await page.GetByTestId("flag-review").ClickAsync();
                await Expect(page.GetByTestId("flag-confirmation")).ToBeVisibleAsync();
                await journey.ShotAsync($"flag-{reason.ToLowerInvariant()}");
                await page.GetByTestId("flag-confirm").ClickAsync();
                await Expect(page.GetByTestId("status-message")).ToBeVisibleAsync();
            }
            await SetBillingAsync("Off (for everyone)", "Dark launch check");
            await Expect(page.Locator("tr[data-flag='billing']")).ToHaveAttributeAsync("data-enabled", "false");
            await journey.GotoAsync("/billing");
            await Expect(page.GetByTestId("billing-not-available")).ToBeVisibleAsync();
            await journey.ShotAsync("billing-dark");
            await SetBillingAsync("On", "Billing back");
            await Expect(page.Locator("tr[data-flag='billing']")).ToHaveAttributeAsync("data-enabled", "true");
            await journey.GotoAsync("/billing");
            await Expect(page.GetByTestId("billing-not-available")).ToHaveCountAsync(0);
            await journey.ShotAsync("billing-back");

            // The audit log names the operator, the action and the reason of each.
            await journey.GotoAsync("/admin/audit");
            var grant = page.GetByRole(AriaRole.Row).Filter(new() { HasText = "Goodwill for a slow week" });
            await Expect(grant).ToHaveCountAsync(1);
            await Expect(grant).ToContainTextAsync("credits.adjust");
            var refund = page.GetByRole(AriaRole.Row).Filter(new() { HasText = "Bought by mistake" });
            await Expect(refund).ToHaveCountAsync(1);
            await Expect(refund).ToContainTextAsync("payment.refund");
            var flag = page.GetByRole(AriaRole.Row).Filter(new() { HasText = "Dark launch check" });
            await Expect(flag).ToHaveCountAsync(1);
            await Expect(flag).ToContainTextAsync("flag.set");
            await journey.ShotAsync("audit-log");
        });
}
