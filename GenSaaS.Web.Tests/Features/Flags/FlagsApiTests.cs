using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Flags;
using GenSaaS.Web.Features.Operations;
using GenSaaS.Web.Tests.Features.Admin;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.FeatureManagement;

namespace GenSaaS.Web.Tests.Features.Flags;

/// <summary>
/// The flag store through its API and CLI: validation names the field and changes nothing, each change is one audit entry with
/// the flag before and after, concurrent changes each see the one before, and the rollout splits users stably.
/// </summary>
public sealed class FlagsApiTests(AdminTestApp app) : IClassFixture<AdminTestApp>
{
    private static Task<HttpResponseMessage> PutAsync(HttpClient client, string name, string json) =>
        client.PutAsync($"/api/v1/admin/flags/{name}", new StringContent(json, Encoding.UTF8, "application/json"));

    private static Task<HttpResponseMessage> PutAsync(HttpClient client, string name, object body) =>
        client.PutAsJsonAsync($"/api/v1/admin/flags/{name}", body);

    private async Task ResetAsync(string name)
    {
        await app.Db.ExecuteAsync("DELETE FROM feature_flags WHERE name = @name", new { name });
        app.Services.GetRequiredService<FlagDefinitions>().Invalidate();
    }

    private async Task<long> FlagAuditCountAsync(string name) =>
        await app.ScalarAsync("SELECT count(*) FROM audit_log WHERE action = 'flag.set' AND target = @name", new { name });

    [Fact]
    public async Task List_ShowsEveryFlag_ANeverSetOneIsOnForEveryone()
    {
        var (_, client) = await app.AdminKeyAsync();
        var json = await AdminTestApp.JsonAsync(await client.GetAsync("/api/v1/admin/flags"), HttpStatusCode.OK);
        var names = json.GetProperty("data").EnumerateArray().Select(f => f.GetProperty("name").GetString()).ToList();
        names.ShouldBe(["billing", "pay_per_use", "bundles", "monthly_plan", "auto_top_up", "generation"]);
        var generation = json.GetProperty("data").EnumerateArray().Single(f => f.GetProperty("name").GetString() == "monthly_plan");
        generation.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        generation.GetProperty("percentage").GetInt32().ShouldBe(100);

        (await AdminTestApp.JsonAsync(await client.GetAsync("/api/v1/admin/flags?limit=3"), HttpStatusCode.BadRequest))
            .GetProperty("code").GetString().ShouldBe("parameter_unknown");
    }

    [Theory]
    [InlineData("{\"enabled\": false}", "reason")]
    [InlineData("{\"enabled\": false, \"reason\": \"   \"}", "reason")]
    [InlineData("{\"enabled\": false, \"reason\": 5}", "reason")]
    [InlineData("{\"enabled\": \"no\", \"reason\": \"r\"}", "enabled")]
    [InlineData("{\"percentage\": 101, \"reason\": \"r\"}", "percentage")]
    [InlineData("{\"percentage\": -1, \"reason\": \"r\"}", "percentage")]
    [InlineData("{\"percentage\": 50.5, \"reason\": \"r\"}", "percentage")]
    [InlineData("{\"percentage\": \"50\", \"reason\": \"r\"}", "percentage")]
    [InlineData("{\"accounts\": \"a@example.com\", \"reason\": \"r\"}", "accounts")]
    [InlineData("{\"accounts\": [1], \"reason\": \"r\"}", "accounts")]
    [InlineData("{\"accounts\": [\"nobody-here@example.com\"], \"reason\": \"r\"}", "accounts")]
    [InlineData("{\"message\": 3, \"reason\": \"r\"}", "message")]
    [InlineData("{\"enable\": true, \"reason\": \"r\"}", "enable")]
    [InlineData("[true]", "body")]
    [InlineData("{not json", "body")]
    public async Task Put_ABadBody_Is400NamingTheField_AndChangesNothing(string body, string field)
    {
        await ResetAsync(FlagNames.Bundles);
        var (_, client) = await app.AdminKeyAsync();
        var json = await AdminTestApp.JsonAsync(await PutAsync(client, FlagNames.Bundles, body), HttpStatusCode.BadRequest);
        json.GetProperty("code").GetString().ShouldBe("validation_failed");
        json.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue(json.ToString());
        (await app.ScalarAsync("SELECT count(*) FROM feature_flags WHERE name = 'bundles'")).ShouldBe(0);
    }

    [Fact]
    public async Task Put_AnUnknownFlag_Is404UnknownFlag()
    {
        var (_, client) = await app.AdminKeyAsync();
        var json = await AdminTestApp.JsonAsync(await PutAsync(client, "billing_v2", new { enabled = false, reason = "r" }), HttpStatusCode.NotFound);
        json.GetProperty("code").GetString().ShouldBe("unknown_flag");
        (await app.ScalarAsync("SELECT count(*) FROM feature_flags WHERE name = 'billing_v2'")).ShouldBe(0);
    }

    [Fact]
    public async Task Put_NonAdmins_AreRefused_AndChangeNothing()
    {
        await ResetAsync(FlagNames.MonthlyPlan);
        var (customer, cookie) = await app.SignedInUserAsync();
        var (admin, _) = await app.AdminKeyAsync();
        var body = new { enabled = false, reason = "probe" };
        (await cookie.PutAsJsonAsync("/api/v1/admin/flags/monthly_plan", body)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        var noScope = await app.KeyClientAsync(admin.Id, ApiKeyScopes.Generate, ApiKeyScopes.Read);
        (await AdminTestApp.JsonAsync(await PutAsync(noScope, FlagNames.MonthlyPlan, body), HttpStatusCode.Forbidden))
            .GetProperty("code").GetString().ShouldBe("insufficient_scope");
        var customerAdminScope = await app.KeyClientAsync(customer.Id, ApiKeyScopes.Admin);
        (await PutAsync(customerAdminScope, FlagNames.MonthlyPlan, body)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await app.NewClient().PutAsJsonAsync("/api/v1/admin/flags/monthly_plan", body)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await app.ScalarAsync("SELECT count(*) FROM feature_flags WHERE name = 'monthly_plan'")).ShouldBe(0);
        (await FlagAuditCountAsync(FlagNames.MonthlyPlan)).ShouldBe(0);
    }

    [Fact]
    public async Task Put_AChange_IsOneAuditEntryWithBeforeAndAfter_TheSameAgainWritesNone()
    {
        await ResetAsync(FlagNames.AutoTopUp);
        var (admin, client) = await app.AdminKeyAsync();
        var listed = await app.CreateUserAsync($"listed-{Guid.NewGuid():N}@example.com");
        var body = new { enabled = true, percentage = 25, accounts = new[] { listed.Email!.ToUpperInvariant() }, reason = "try it on a quarter" };
        var json = await AdminTestApp.JsonAsync(await PutAsync(client, FlagNames.AutoTopUp, body), HttpStatusCode.OK);
        json.GetProperty("changed").GetBoolean().ShouldBeTrue();
        var flag = json.GetProperty("flag");
        flag.GetProperty("percentage").GetInt32().ShouldBe(25);
        flag.GetProperty("accounts")[0].GetProperty("id").GetString().ShouldBe(listed.Id);
        flag.GetProperty("accounts")[0].GetProperty("email").GetString().ShouldBe(listed.Email);

        var entries = await app.AuditAsync(FlagNames.AutoTopUp, "flag.set");
        entries.Count.ShouldBe(1);
        var entry = entries[0];
        json.GetProperty("auditId").GetString().ShouldBe($"aud_{entry.Id}");
        entry.Actor.ShouldBe(admin.Id);
        entry.ActorKind.ShouldBe("api_key");
        entry.Reason.ShouldBe("try it on a quarter");
        var before = JsonDocument.Parse(entry.BeforeJson!).RootElement;
        before.GetProperty("stored").GetBoolean().ShouldBeFalse();
        before.GetProperty("percentage").GetInt32().ShouldBe(100);
        var after = JsonDocument.Parse(entry.AfterJson!).RootElement;
        after.GetProperty("percentage").GetInt32().ShouldBe(25);
        after.GetProperty("accounts")[0].GetString().ShouldBe(listed.Id);

        // A retry (or a second tab) asking for the same: nothing changes, nothing is written.
        var again = await AdminTestApp.JsonAsync(await PutAsync(client, FlagNames.AutoTopUp, body), HttpStatusCode.OK);
        again.GetProperty("changed").GetBoolean().ShouldBeFalse();
        again.TryGetProperty("auditId", out var none).ShouldBeTrue();
        none.ValueKind.ShouldBe(JsonValueKind.Null);
        (await FlagAuditCountAsync(FlagNames.AutoTopUp)).ShouldBe(1);

        // Fields left out keep their value; percentage null is everyone.
        var everyone = await AdminTestApp.JsonAsync(await PutAsync(client, FlagNames.AutoTopUp, "{\"percentage\": null, \"reason\": \"all in\"}"), HttpStatusCode.OK);
        everyone.GetProperty("flag").GetProperty("percentage").GetInt32().ShouldBe(100);
        everyone.GetProperty("flag").GetProperty("accounts").GetArrayLength().ShouldBe(1);
        (await FlagAuditCountAsync(FlagNames.AutoTopUp)).ShouldBe(2);
    }

    [Fact]
    public async Task ConcurrentPuts_EachIsOneEntry_AndEachSeesTheOneBefore()
    {
        await ResetAsync(FlagNames.PayPerUse);
        var (_, client) = await app.AdminKeyAsync();
        const int n = 16;
        var answers = await Task.WhenAll(Enumerable.Range(1, n).Select(i =>
            PutAsync(client, FlagNames.PayPerUse, new { enabled = true, percentage = i, reason = $"step {i}" })));
        answers.ShouldAllBe(a => a.StatusCode == HttpStatusCode.OK);

        var entries = await app.AuditAsync(FlagNames.PayPerUse, "flag.set");
        entries.Count.ShouldBe(n);
        // Serialised: every entry's before is the previous entry's after, so no change was lost or based on a stale read.
        for (var i = 1; i < n; i++)
            JsonDocument.Parse(entries[i].BeforeJson!).RootElement.GetProperty("percentage").GetInt32()
                .ShouldBe(JsonDocument.Parse(entries[i - 1].AfterJson!).RootElement.GetProperty("percentage").GetInt32());
        var final = await app.Services.GetRequiredService<FlagStore>().ReadAsync(FlagNames.PayPerUse);
        final!.Percentage.ShouldBe(JsonDocument.Parse(entries[^1].AfterJson!).RootElement.GetProperty("percentage").GetInt32());
        final.Version.ShouldBe(n);
    }

    [Fact]
    public async Task Rollout_SplitsUsersStably_RaisingItOnlyAdds_AndListedAccountsAreAlwaysIn()
    {
        await ResetAsync(FlagNames.Bundles);
        var (_, client) = await app.AdminKeyAsync();
        var features = app.Services.GetRequiredService<IFeatureManager>();
        var users = Enumerable.Range(0, 2000).Select(_ => Guid.NewGuid().ToString()).ToList();

        (await PutAsync(client, FlagNames.Bundles, new { enabled = true, percentage = 30, reason = "30 %" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var on30 = new HashSet<string>();
        foreach (var u in users)
            if (await features.IsOnAsync(FlagNames.Bundles, u))
                on30.Add(u);
        on30.Count.ShouldBeInRange(500, 700);
        foreach (var u in users.Take(200))
            (await features.IsOnAsync(FlagNames.Bundles, u)).ShouldBe(on30.Contains(u), "the same user gets the same answer");
        on30.ShouldAllBe(u => RolloutFilter.Bucket(u) < 30);

        (await PutAsync(client, FlagNames.Bundles, new { percentage = 60, reason = "60 %" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        foreach (var u in on30)
            (await features.IsOnAsync(FlagNames.Bundles, u)).ShouldBeTrue("raising the percentage keeps everyone who had it");

        var listed = await app.CreateUserAsync($"listed-{Guid.NewGuid():N}@example.com");
        (await PutAsync(client, FlagNames.Bundles, new { percentage = 0, accounts = new[] { listed.Id }, reason = "one account" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await features.IsOnAsync(FlagNames.Bundles, listed.Id)).ShouldBeTrue();
        (await features.IsOnAsync(FlagNames.Bundles, users[0])).ShouldBeFalse();
        (await features.IsOnAsync(FlagNames.Bundles, null)).ShouldBeFalse("nobody signed in is in no rollout");

        (await PutAsync(client, FlagNames.Bundles, new { enabled = false, reason = "off" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await features.IsOnAsync(FlagNames.Bundles, listed.Id)).ShouldBeFalse("off is off for listed accounts too");
        await ResetAsync(FlagNames.Bundles);
        (await features.IsOnAsync(FlagNames.Bundles, null)).ShouldBeTrue("no row: as configured");
    }

    [Fact]
    public async Task AChangeByAnotherProcess_IsSeenWithinTheCacheWindow()
    {
        await ResetAsync(FlagNames.MonthlyPlan);
        var features = app.Services.GetRequiredService<IFeatureManager>();
        (await features.IsOnAsync(FlagNames.MonthlyPlan, "u1")).ShouldBeTrue();
        // Written as `flags set` in another process would: straight into the table, this process's cache untouched.
        await app.Db.ExecuteAsync("""
            INSERT INTO feature_flags (name, enabled, percentage, accounts_json, version, updated_at, updated_by)
            VALUES ('monthly_plan', 0, 100, '[]', 1, '2026-01-01 00:00:00.0000000', 'cli:test')
            """, null);
        var window = TimeSpan.FromSeconds(new FlagsOptions().CacheSeconds + 2);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (await features.IsOnAsync(FlagNames.MonthlyPlan, "u1"))
        {
            watch.Elapsed.ShouldBeLessThan(window, "the change was not seen within the cache window");
            await Task.Delay(100);
        }
        await ResetAsync(FlagNames.MonthlyPlan);
    }

    [Fact]
    public async Task Cli_SetsAndLists_AuditedAsTheOperator()
    {
        await ResetAsync(FlagNames.Generation);
        await using var scope = app.Services.CreateAsyncScope();
        var commands = scope.ServiceProvider.GetServices<ICliCommand>().ToList();
        var set = commands.Single(c => c.Name == "flags set");
        var list = commands.Single(c => c.Name == "flags list");

        await Should.ThrowAsync<CliUsageException>(() => set.RunAsync(new CliArgs(["generation", "--off"], set.TakesName), TextWriter.Null, CancellationToken.None));
        await Should.ThrowAsync<CliUsageException>(() => set.RunAsync(new CliArgs(["nonsense", "--off", "--reason", "r"], set.TakesName), TextWriter.Null, CancellationToken.None));
        await Should.ThrowAsync<CliUsageException>(() => set.RunAsync(new CliArgs(["generation", "--percent", "150", "--reason", "r"], set.TakesName), TextWriter.Null, CancellationToken.None));
        (await FlagAuditCountAsync(FlagNames.Generation)).ShouldBe(0);

        var output = new StringWriter();
        (await set.RunAsync(new CliArgs(["generation", "--off", "--message", "Back at 10:00 UTC", "--reason", "GPU outage"], set.TakesName), output, CancellationToken.None))
            .ShouldBe(0);
        output.ToString().ShouldContain("generation is now off");
        var entry = (await app.AuditAsync(FlagNames.Generation, "flag.set")).ShouldHaveSingleItem();
        entry.Actor.ShouldBe($"cli:{Environment.UserName}");
        entry.ActorKind.ShouldBe("cli");
        entry.Reason.ShouldBe("GPU outage");

        var listed = new StringWriter();
        (await list.RunAsync(new CliArgs([]), listed, CancellationToken.None)).ShouldBe(0);
        listed.ToString().ShouldContain("Back at 10:00 UTC");
        listed.ToString().ShouldContain("(never set: as configured)");
        await ResetAsync(FlagNames.Generation);
    }
}
