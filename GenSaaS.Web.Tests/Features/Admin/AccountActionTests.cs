using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Admin;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>
/// The account actions of the customer page: each after a reason and a confirmation changes exactly what it says and writes
/// one audit entry; a second submit changes nothing; an admin's own lock or role is refused; "view as customer" shows that
/// customer's dashboard data without a form and is audited as a read.
/// </summary>
public sealed class AccountActionTests(AdminTestApp app) : IClassFixture<AdminTestApp>
{
    /// <summary>Reviews then confirms <paramref name="slug"/> from the customer page's form, as a browser would; returns the confirm's answer.</summary>
    internal static async Task<HttpResponseMessage> ActAsync(HttpClient browser, string customerId, string slug, string reason, string? keyId = null,
        bool confirmTwice = false)
    {
        var page = await browser.GetStringAsync($"/admin/customers/{customerId}");
        var antiforgery = TestApp.AntiforgeryToken(page);
        var fields = new Dictionary<string, string> { ["Act.Action"] = slug, ["Act.Reason"] = reason, ["__RequestVerificationToken"] = antiforgery };
        if (keyId is not null)
            fields["Act.KeyId"] = keyId;
        var review = await browser.PostAsync($"/admin/customers/{customerId}/actions?handler=Review", new FormUrlEncodedContent(fields));
        var reviewHtml = await review.Content.ReadAsStringAsync();
        review.StatusCode.ShouldBe(HttpStatusCode.OK, reviewHtml);
        reviewHtml.ShouldContain("data-testid=\"action-confirmation\"", customMessage: reviewHtml);
        var confirmFields = new Dictionary<string, string>(fields) { ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(reviewHtml) };
        var confirmed = await browser.PostAsync($"/admin/customers/{customerId}/actions?handler=Confirm", new FormUrlEncodedContent(confirmFields));
        if (confirmTwice)
            confirmed = await browser.PostAsync($"/admin/customers/{customerId}/actions?handler=Confirm", new FormUrlEncodedContent(confirmFields));
        return confirmed;
    }

    private async Task<IdentityUser> UserAsync(string id)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return (await scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>().FindByIdAsync(id))!;
    }

    private async Task<bool> IsAdminAsync(string id)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        return await users.IsInRoleAsync((await users.FindByIdAsync(id))!, Roles.Admin);
    }

    private Task<long> LiveKeysAsync(string id) => app.ScalarAsync("SELECT count(*) FROM api_keys WHERE user_id = @id AND revoked_at IS NULL", new { id });

    private static async Task ShouldRedirectToCustomerAsync(HttpResponseMessage response, string customerId)
    {
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        response.Headers.Location!.ToString().ShouldBe($"/admin/customers/{customerId}");
    }

    [Fact]
    public async Task EachAction_AfterConfirmation_ChangesExactlyWhatItSays_WithOneAuditEntry_AndADoubleSubmitActsOnce()
    {
        var (admin, browser) = await app.SignedInUserAsync(admin: true);
        var customer = await app.CreateUserAsync($"acts-{Guid.NewGuid():N}@example.com", confirmed: false);
        var keys = app.Services.GetRequiredService<ApiKeyStore>();
        var first = (await keys.CreateAsync(customer.Id, "first", [ApiKeyScopes.Read], CancellationToken.None))!.Value.Record;
        await keys.CreateAsync(customer.Id, "second", [ApiKeyScopes.Read], CancellationToken.None);
        await keys.CreateAsync(customer.Id, "third", [ApiKeyScopes.Read], CancellationToken.None);
        var page = await browser.GetStringAsync($"/admin/customers/{customer.Id}");
        foreach (var slug in new[] { "confirm-email", "lock", "promote", "revoke-api-key", "revoke-api-keys" })
            page.ShouldContain($"data-testid=\"action-{slug}\"");
        page.ShouldNotContain("data-testid=\"action-unlock\"");
        page.ShouldNotContain("data-testid=\"action-demote\"");

        // Confirm the email, pressed twice: confirmed once, one entry, and the second answer says nothing changed.
        await ShouldRedirectToCustomerAsync(await ActAsync(browser, customer.Id, "confirm-email", "support ticket 1", confirmTwice: true), customer.Id);
        (await UserAsync(customer.Id)).EmailConfirmed.ShouldBeTrue();
        (await browser.GetStringAsync($"/admin/customers/{customer.Id}")).ShouldContain("already confirmed; nothing changed");
        var confirmEntry = (await app.AuditAsync(customer.Id, AuditActions.UserConfirmEmail)).ShouldHaveSingleItem();
        (confirmEntry.Actor, confirmEntry.ActorKind, confirmEntry.Reason).ShouldBe((admin.Id, "admin", "support ticket 1"));
        JsonDocument.Parse(confirmEntry.BeforeJson!).RootElement.GetProperty("emailConfirmed").GetBoolean().ShouldBeFalse();
        JsonDocument.Parse(confirmEntry.AfterJson!).RootElement.GetProperty("emailConfirmed").GetBoolean().ShouldBeTrue();

        // Lock, twice: locked indefinitely, nothing else about the account changed.
        await ShouldRedirectToCustomerAsync(await ActAsync(browser, customer.Id, "lock", "chargeback fraud", confirmTwice: true), customer.Id);
        var locked = await UserAsync(customer.Id);
        locked.LockoutEnd.ShouldBe(DateTimeOffset.MaxValue);
        locked.EmailConfirmed.ShouldBeTrue();
        (await IsAdminAsync(customer.Id)).ShouldBeFalse();
        (await LiveKeysAsync(customer.Id)).ShouldBe(3);
        var lockEntry = (await app.AuditAsync(customer.Id, AuditActions.UserLock)).ShouldHaveSingleItem();
        JsonDocument.Parse(lockEntry.AfterJson!).RootElement.GetProperty("state").GetProperty("locked").GetBoolean().ShouldBeTrue();
        var lockedPage = await browser.GetStringAsync($"/admin/customers/{customer.Id}");
        lockedPage.ShouldContain("data-testid=\"customer-status\">locked");
        lockedPage.ShouldContain("data-testid=\"action-unlock\"");
        lockedPage.ShouldNotContain("data-testid=\"action-lock\"");
        lockedPage.ShouldContain("user.lock by");

        await ShouldRedirectToCustomerAsync(await ActAsync(browser, customer.Id, "unlock", "cleared by the bank", confirmTwice: true), customer.Id);
        (await UserAsync(customer.Id)).LockoutEnd.ShouldBeNull();
        (await app.AuditAsync(customer.Id, AuditActions.UserUnlock)).ShouldHaveSingleItem();

        await ShouldRedirectToCustomerAsync(await ActAsync(browser, customer.Id, "promote", "new support lead", confirmTwice: true), customer.Id);
        (await IsAdminAsync(customer.Id)).ShouldBeTrue();
        (await app.AuditAsync(customer.Id, AuditActions.UserPromote)).ShouldHaveSingleItem();

        await ShouldRedirectToCustomerAsync(await ActAsync(browser, customer.Id, "demote", "left the team", confirmTwice: true), customer.Id);
        (await IsAdminAsync(customer.Id)).ShouldBeFalse();
        (await app.AuditAsync(customer.Id, AuditActions.UserDemote)).ShouldHaveSingleItem();

        await ShouldRedirectToCustomerAsync(await ActAsync(browser, customer.Id, "revoke-api-key", "key leaked in a repo", first.Id, confirmTwice: true), customer.Id);
        (await app.ScalarAsync("SELECT count(*) FROM api_keys WHERE id = @Id AND revoked_at IS NOT NULL", first)).ShouldBe(1);
        (await LiveKeysAsync(customer.Id)).ShouldBe(2);
        var keyEntry = (await app.AuditAsync(customer.Id, AuditActions.ApiKeyRevoke)).ShouldHaveSingleItem();
        keyEntry.AfterJson!.ShouldContain(first.Id);

        await ShouldRedirectToCustomerAsync(await ActAsync(browser, customer.Id, "revoke-api-keys", "account compromised", confirmTwice: true), customer.Id);
        (await LiveKeysAsync(customer.Id)).ShouldBe(0);
        (await app.AuditAsync(customer.Id, AuditActions.ApiKeyRevokeAll)).ShouldHaveSingleItem();

        // Seven actions, seven entries, all by this admin; and the customer's credits never moved.
        var entries = await app.AuditAsync(customer.Id);
        entries.Count.ShouldBe(7);
        entries.ShouldAllBe(e => e.Actor == admin.Id && e.ActorKind == "admin");
        (await app.ScalarAsync("SELECT count(*) FROM credit_ledger WHERE user_id = @Id AND kind = 'adjustment'", customer)).ShouldBe(0);
    }

    [Fact]
    public async Task Review_WithoutAReason_OrAnUnknownAction_OrSomeoneElsesKey_ShowsTheError_AndChangesNothing()
    {
        var (_, browser) = await app.SignedInUserAsync(admin: true);
        var customer = await app.CreateUserAsync($"bad-act-{Guid.NewGuid():N}@example.com");
        var other = await app.CreateUserAsync($"bad-act-other-{Guid.NewGuid():N}@example.com");
        var othersKey = (await app.Services.GetRequiredService<ApiKeyStore>().CreateAsync(other.Id, "theirs", [ApiKeyScopes.Read], CancellationToken.None))!.Value.Record;
        var page = await browser.GetStringAsync($"/admin/customers/{customer.Id}");
        var antiforgery = TestApp.AntiforgeryToken(page);

        async Task<string> PostAsync(string handler, Dictionary<string, string> fields)
        {
            fields["__RequestVerificationToken"] = antiforgery;
            var response = await browser.PostAsync($"/admin/customers/{customer.Id}/actions?handler={handler}", new FormUrlEncodedContent(fields));
            return await response.Content.ReadAsStringAsync();
        }

        foreach (var handler in new[] { "Review", "Confirm" })
        {
            (await PostAsync(handler, new() { ["Act.Action"] = "lock", ["Act.Reason"] = "   " })).ShouldContain("Say why");
            (await PostAsync(handler, new() { ["Act.Action"] = "lock" })).ShouldContain("Say why");
            (await PostAsync(handler, new() { ["Act.Action"] = "delete", ["Act.Reason"] = "x" })).ShouldContain("Choose one of the actions");
            (await PostAsync(handler, new() { ["Act.Action"] = "lock", ["Act.Reason"] = new string('x', 501) })).ShouldContain("under 500 characters");
            (await PostAsync(handler, new() { ["Act.Action"] = "revoke-api-key", ["Act.Reason"] = "x", ["Act.KeyId"] = othersKey.Id }))
                .ShouldContain("Choose one of the customer&#x27;s API keys");
        }
        (await UserAsync(customer.Id)).LockoutEnd.ShouldBeNull();
        (await app.ScalarAsync("SELECT count(*) FROM api_keys WHERE id = @Id AND revoked_at IS NULL", othersKey)).ShouldBe(1);
        (await app.AuditAsync(customer.Id)).ShouldBeEmpty();
        (await app.AuditAsync(other.Id)).ShouldBeEmpty();

        // A page without antiforgery token changes nothing either.
        var forged = await browser.PostAsync($"/admin/customers/{customer.Id}/actions?handler=Confirm",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["Act.Action"] = "lock", ["Act.Reason"] = "csrf" }));
        forged.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await UserAsync(customer.Id)).LockoutEnd.ShouldBeNull();
        (await browser.GetAsync("/admin/customers/nobody/actions")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AnAdmin_CannotLockThemselves_OrRevokeTheirOwnRole_AndIsToldSo()
    {
        var (admin, browser) = await app.SignedInUserAsync(admin: true);
        var own = await browser.GetStringAsync($"/admin/customers/{admin.Id}");
        own.ShouldNotContain("data-testid=\"action-lock\"");
        own.ShouldNotContain("data-testid=\"action-demote\"");
        own.ShouldContain("You cannot lock your own account or revoke your own admin role.");

        var lockSelf = await ActAsync(browser, admin.Id, "lock", "testing");
        lockSelf.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await lockSelf.Content.ReadAsStringAsync()).ShouldContain("You cannot lock your own account");
        var demoteSelf = await ActAsync(browser, admin.Id, "demote", "testing");
        demoteSelf.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await demoteSelf.Content.ReadAsStringAsync()).ShouldContain("You cannot revoke your own admin role");

        (await UserAsync(admin.Id)).LockoutEnd.ShouldBeNull();
        (await IsAdminAsync(admin.Id)).ShouldBeTrue();
        (await app.AuditAsync(admin.Id)).ShouldBeEmpty();
        (await browser.GetAsync("/admin")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Lock_EndsTheCustomersSessionAndStopsTheirKeys_AtOnce_AndUnlockLetsThemSignInAgain()
    {
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        var (customer, session) = await app.SignedInUserAsync();
        var key = await app.KeyClientAsync(customer.Id, ApiKeyScopes.Read);
        (await session.GetAsync("/dashboard")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await key.GetAsync("/api/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        await ShouldRedirectToCustomerAsync(await ActAsync(admin, customer.Id, "lock", "abuse"), customer.Id);

        // The very next request of the open session is anonymous, and the key is refused, saying why.
        var dashboard = await session.GetAsync("/dashboard");
        dashboard.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        dashboard.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login");
        var refused = await AdminTestApp.JsonAsync(await key.GetAsync("/api/v1/me"), HttpStatusCode.Unauthorized);
        refused.GetProperty("code").GetString().ShouldBe("unauthenticated");
        refused.GetProperty("detail").GetString()!.ShouldContain("locked");

        // The right password does not sign in.
        var signIn = await TestApp.PostFormAsync(app.NewClient(), "/Identity/Account/Login", new()
        {
            ["Input.Email"] = customer.Email!, ["Input.Password"] = "Correct-Horse-9", ["Input.RememberMe"] = "false",
        });
        signIn.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        signIn.Headers.Location!.ToString().ShouldContain("Lockout");

        await ShouldRedirectToCustomerAsync(await ActAsync(admin, customer.Id, "unlock", "resolved"), customer.Id);
        (await key.GetAsync("/api/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await session.GetAsync("/dashboard")).StatusCode.ShouldBe(HttpStatusCode.Redirect, "an ended session stays ended");
        var again = await app.SignInAsync(customer.Email!);
        (await again.GetAsync("/dashboard")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Demote_EndsTheFormerAdminsSessions_AndTheirKeyNoLongerReachesTheAdminApi()
    {
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        var (other, otherSession) = await app.SignedInUserAsync(admin: true);
        var otherKey = await app.KeyClientAsync(other.Id, ApiKeyScopes.Admin, ApiKeyScopes.Read);
        (await otherSession.GetAsync("/admin")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await otherKey.GetAsync("/api/v1/admin/audit?limit=1")).StatusCode.ShouldBe(HttpStatusCode.OK);

        await ShouldRedirectToCustomerAsync(await ActAsync(admin, other.Id, "demote", "changed role"), other.Id);

        (await otherSession.GetAsync("/admin")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await AdminTestApp.JsonAsync(await otherKey.GetAsync("/api/v1/admin/audit?limit=1"), HttpStatusCode.Forbidden))
            .GetProperty("code").GetString().ShouldBe("forbidden");
        var signedInAgain = await app.SignInAsync(other.Email!);
        (await signedInAgain.GetAsync("/admin")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await signedInAgain.GetAsync("/dashboard")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task ViewAsCustomer_AsksForAReason_ThenShowsThatCustomersDashboardData_WithoutAForm_AndIsAuditedAsARead()
    {
        var (admin, browser) = await app.SignedInUserAsync(admin: true);
        var (_, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"viewed-{Guid.NewGuid():N}@example.com");
        var bystander = await app.CreateUserAsync($"bystander-{Guid.NewGuid():N}@example.com");
        (await AdminTestApp.AdjustAsync(key, customer.Id, new { amount = 42, reason = "goodwill for the viewed" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await AdminTestApp.AdjustAsync(key, bystander.Id, new { amount = 7, reason = "bystander grant" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var url = $"/admin/customers/{customer.Id}/view";

        var ask = await browser.GetStringAsync(url);
        ask.ShouldContain("Say why you look");
        ask.ShouldNotContain("data-testid=\"view-as\"");
        (await app.AuditAsync(customer.Id, AuditActions.CustomerViewAs)).ShouldBeEmpty();
        (await browser.GetStringAsync($"{url}?reason=%20%20")).ShouldContain("Say why");
        (await app.AuditAsync(customer.Id, AuditActions.CustomerViewAs)).ShouldBeEmpty();

        var view = await browser.GetAsync($"{url}?reason={Uri.EscapeDataString("ticket 77: balance looks wrong")}");
        var html = await view.Content.ReadAsStringAsync();
        view.StatusCode.ShouldBe(HttpStatusCode.OK, html);
        html.ShouldContain($"data-customer-id=\"{customer.Id}\"");
        html.ShouldContain("data-testid=\"view-credits-prepaid\">42<");
        html.ShouldContain("data-testid=\"view-credits-trial\">3<");
        html.ShouldContain("goodwill for the viewed");
        html.ShouldNotContain("bystander grant");
        html.ShouldContain("Read-only");
        // No form in the page's content (the layout's own sign-out form is the admin's), and nothing posts anywhere as the customer.
        var main = Regex.Match(html, "<main[^>]*>(.*)</main>", RegexOptions.Singleline).Groups[1].Value;
        main.ShouldNotBeEmpty();
        main.ShouldNotContain("<form", Case.Insensitive);
        main.ShouldNotContain("method=\"post\"", Case.Insensitive);
        main.ShouldNotContain("href=\"/dashboard", Case.Insensitive);
        main.ShouldNotContain("href=\"/billing", Case.Insensitive);

        var entry = (await app.AuditAsync(customer.Id, AuditActions.CustomerViewAs)).ShouldHaveSingleItem();
        (entry.Actor, entry.ActorKind, entry.Reason).ShouldBe((admin.Id, "admin", "ticket 77: balance looks wrong"));
        (await app.BalanceAsync(customer.Id)).ShouldBe((3L, 42L));

        // A customer who never opened the app is not given a balance by being looked at.
        var fresh = await app.CreateUserAsync($"never-{Guid.NewGuid():N}@example.com");
        (await browser.GetStringAsync($"/admin/customers/{fresh.Id}/view?reason=check")).ShouldContain("data-testid=\"view-no-balance\"");
        (await app.ScalarAsync("SELECT count(*) FROM credit_balances WHERE user_id = @Id", fresh)).ShouldBe(0);
        (await browser.GetAsync("/admin/customers/nobody/view?reason=x")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}
