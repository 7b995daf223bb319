using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Admin;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>
/// The account actions through the admin API: each changes what it says with one audit entry, a repeat answers
/// <c>changed: false</c> and writes nothing, bad input is 400 <c>validation_failed</c> naming the field, refusals are 409.
/// </summary>
public sealed class AccountActionApiTests(AdminTestApp app) : IClassFixture<AdminTestApp>
{
    internal static Task<HttpResponseMessage> PostAsync(HttpClient client, string userId, string action, object? body) =>
        client.PostAsync($"/api/v1/admin/customers/{userId}/{action}", body is null ? null : JsonContent.Create(body));

    private static Task<HttpResponseMessage> DeleteAsync(HttpClient client, string path, object? body) =>
        client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, path) { Content = body is null ? null : JsonContent.Create(body) });

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

    private async Task<JsonElement> OkTwiceAsync(Func<Task<HttpResponseMessage>> call, string auditAction, string customerId)
    {
        var first = await AdminTestApp.JsonAsync(await call(), HttpStatusCode.OK);
        first.GetProperty("object").GetString().ShouldBe("account_action");
        first.GetProperty("action").GetString().ShouldBe(auditAction);
        first.GetProperty("changed").GetBoolean().ShouldBeTrue(first.ToString());
        var entry = (await app.AuditAsync(customerId, auditAction)).ShouldHaveSingleItem();
        first.GetProperty("auditId").GetString().ShouldBe($"aud_{entry.Id}");
        entry.ActorKind.ShouldBe("api_key");

        var again = await AdminTestApp.JsonAsync(await call(), HttpStatusCode.OK);
        again.GetProperty("changed").GetBoolean().ShouldBeFalse();
        again.GetProperty("auditId").ValueKind.ShouldBe(JsonValueKind.Null);
        again.GetProperty("message").GetString()!.ShouldContain("nothing changed");
        (await app.AuditAsync(customerId, auditAction)).ShouldHaveSingleItem();
        return first;
    }

    [Fact]
    public async Task EachAction_ChangesWhatItSays_WithOneAuditEntry_AndARepeatChangesNothing()
    {
        var (admin, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"api-acts-{Guid.NewGuid():N}@example.com", confirmed: false);
        var keys = app.Services.GetRequiredService<ApiKeyStore>();
        var one = (await keys.CreateAsync(customer.Id, "one", [ApiKeyScopes.Read], CancellationToken.None))!.Value.Record;
        await keys.CreateAsync(customer.Id, "two", [ApiKeyScopes.Read], CancellationToken.None);

        var confirmed = await OkTwiceAsync(() => PostAsync(key, customer.Id, "confirm-email", new { reason = "verified by phone" }), AuditActions.UserConfirmEmail, customer.Id);
        confirmed.GetProperty("state").GetProperty("emailConfirmed").GetBoolean().ShouldBeTrue();
        (await UserAsync(customer.Id)).EmailConfirmed.ShouldBeTrue();

        var locked = await OkTwiceAsync(() => PostAsync(key, customer.Id, "lock", new { reason = "fraud" }), AuditActions.UserLock, customer.Id);
        locked.GetProperty("state").GetProperty("locked").GetBoolean().ShouldBeTrue();
        locked.GetProperty("state").GetProperty("lockedUntil").GetString().ShouldBe("indefinitely");
        (await UserAsync(customer.Id)).LockoutEnd.ShouldBe(DateTimeOffset.MaxValue);

        await OkTwiceAsync(() => PostAsync(key, customer.Id, "unlock", new { reason = "cleared" }), AuditActions.UserUnlock, customer.Id);
        (await UserAsync(customer.Id)).LockoutEnd.ShouldBeNull();

        await OkTwiceAsync(() => PostAsync(key, customer.Id, "promote", new { reason = "joins support" }), AuditActions.UserPromote, customer.Id);
        (await IsAdminAsync(customer.Id)).ShouldBeTrue();
        await OkTwiceAsync(() => PostAsync(key, customer.Id, "demote", new { reason = "leaves support" }), AuditActions.UserDemote, customer.Id);
        (await IsAdminAsync(customer.Id)).ShouldBeFalse();

        await OkTwiceAsync(() => DeleteAsync(key, $"/api/v1/admin/customers/{customer.Id}/api-keys/{one.Id}", new { reason = "leaked" }), AuditActions.ApiKeyRevoke, customer.Id);
        (await LiveKeysAsync(customer.Id)).ShouldBe(1);
        var all = await OkTwiceAsync(() => DeleteAsync(key, $"/api/v1/admin/customers/{customer.Id}/api-keys?reason=compromised", null), AuditActions.ApiKeyRevokeAll, customer.Id);
        all.GetProperty("state").GetProperty("liveApiKeys").GetInt64().ShouldBe(0);
        (await LiveKeysAsync(customer.Id)).ShouldBe(0);

        var entries = await app.AuditAsync(customer.Id);
        entries.Count.ShouldBe(7);
        entries.ShouldAllBe(e => e.Actor == admin.Id);
    }

    [Fact]
    public async Task Lock_StopsTheCustomersKeyAtOnce_AndUnlockRestoresIt()
    {
        var (_, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"api-lock-{Guid.NewGuid():N}@example.com");
        var customerKey = await app.KeyClientAsync(customer.Id, ApiKeyScopes.Read, ApiKeyScopes.Generate);
        (await customerKey.GetAsync("/api/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await PostAsync(key, customer.Id, "lock", new { reason = "abuse" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await AdminTestApp.JsonAsync(await customerKey.GetAsync("/api/v1/me"), HttpStatusCode.Unauthorized)).GetProperty("detail").GetString()!.ShouldContain("locked");
        var generate = await customerKey.PostAsync("/api/v1/generations", JsonContent.Create(new { prompt = "a cat" }));
        generate.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await app.ScalarAsync("SELECT count(*) FROM generations WHERE user_id = @Id", customer)).ShouldBe(0);

        (await PostAsync(key, customer.Id, "unlock", new { reason = "ok" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await customerKey.GetAsync("/api/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("{}", "reason")]
    [InlineData("{\"reason\": \"   \"}", "reason")]
    [InlineData("{\"reason\": 12}", "reason")]
    [InlineData("{\"reason\": null}", "reason")]
    [InlineData("{\"reason\": \"x\", \"until\": \"2030-01-01\"}", "until")]
    [InlineData("[\"x\"]", "body")]
    [InlineData("{\"reason\": ", "body")]
    [InlineData("", "body")]
    public async Task BadBodies_Are400ValidationFailed_NamingTheField_AndChangeNothing(string json, string field)
    {
        var (_, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"api-bad-{Guid.NewGuid():N}@example.com");
        foreach (var action in new[] { "lock", "promote", "confirm-email" })
        {
            var response = await key.PostAsync($"/api/v1/admin/customers/{customer.Id}/{action}", new StringContent(json, Encoding.UTF8, "application/json"));
            var problem = await AdminTestApp.JsonAsync(response, HttpStatusCode.BadRequest);
            problem.GetProperty("code").GetString().ShouldBe("validation_failed");
            problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue(problem.ToString());
        }
        var tooLong = await AdminTestApp.JsonAsync(await PostAsync(key, customer.Id, "lock", new { reason = new string('x', 501) }), HttpStatusCode.BadRequest);
        tooLong.GetProperty("errors").TryGetProperty("reason", out _).ShouldBeTrue();
        (await AdminTestApp.JsonAsync(await DeleteAsync(key, $"/api/v1/admin/customers/{customer.Id}/api-keys", null), HttpStatusCode.BadRequest))
            .GetProperty("code").GetString().ShouldBe("validation_failed");
        (await AdminTestApp.JsonAsync(await key.PostAsync($"/api/v1/admin/customers/{customer.Id}/lock?reason=x", JsonContent.Create(new { reason = "x" })), HttpStatusCode.BadRequest))
            .GetProperty("code").GetString().ShouldBe("parameter_unknown");

        (await UserAsync(customer.Id)).LockoutEnd.ShouldBeNull();
        (await IsAdminAsync(customer.Id)).ShouldBeFalse();
        (await app.AuditAsync(customer.Id)).ShouldBeEmpty();
    }

    [Fact]
    public async Task UnknownCustomer_AndAnotherCustomersKey_Are404_AndTheKeyStaysLive()
    {
        var (_, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"api-404-{Guid.NewGuid():N}@example.com");
        var other = await app.CreateUserAsync($"api-404-other-{Guid.NewGuid():N}@example.com");
        var othersKey = (await app.Services.GetRequiredService<ApiKeyStore>().CreateAsync(other.Id, "theirs", [ApiKeyScopes.Read], CancellationToken.None))!.Value.Record;

        (await AdminTestApp.JsonAsync(await PostAsync(key, "nobody", "lock", new { reason = "x" }), HttpStatusCode.NotFound))
            .GetProperty("code").GetString().ShouldBe("not_found");
        (await AdminTestApp.JsonAsync(await DeleteAsync(key, $"/api/v1/admin/customers/{customer.Id}/api-keys/{othersKey.Id}", new { reason = "x" }), HttpStatusCode.NotFound))
            .GetProperty("code").GetString().ShouldBe("not_found");
        (await LiveKeysAsync(other.Id)).ShouldBe(1);
        (await app.AuditAsync(customer.Id)).ShouldBeEmpty();
        (await app.AuditAsync(other.Id)).ShouldBeEmpty();
        (await app.AuditAsync("nobody")).ShouldBeEmpty();
    }

    [Fact]
    public async Task AnAdmin_CannotLockOrDemoteThemselves_409OwnAccount()
    {
        var (admin, key) = await app.AdminKeyAsync();
        foreach (var action in new[] { "lock", "demote" })
        {
            var problem = await AdminTestApp.JsonAsync(await PostAsync(key, admin.Id, action, new { reason = "oops" }), HttpStatusCode.Conflict);
            problem.GetProperty("code").GetString().ShouldBe("own_account");
            problem.GetProperty("detail").GetString()!.ShouldContain("your own");
        }
        (await UserAsync(admin.Id)).LockoutEnd.ShouldBeNull();
        (await IsAdminAsync(admin.Id)).ShouldBeTrue();
        (await app.AuditAsync(admin.Id)).ShouldBeEmpty();
        (await key.GetAsync("/api/v1/admin/audit?limit=1")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task TwoAdminsLockingAtOnce_LockOnce()
    {
        var (_, first) = await app.AdminKeyAsync();
        var (_, second) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"api-race-{Guid.NewGuid():N}@example.com");
        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => PostAsync(i % 2 == 0 ? first : second, customer.Id, "lock", new { reason = $"race {i}" })));
        answers.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
        var bodies = await Task.WhenAll(answers.Select(r => r.Content.ReadFromJsonAsync<JsonElement>()));
        bodies.Count(b => b.GetProperty("changed").GetBoolean()).ShouldBe(1);
        (await app.AuditAsync(customer.Id, AuditActions.UserLock)).ShouldHaveSingleItem();
    }
}
