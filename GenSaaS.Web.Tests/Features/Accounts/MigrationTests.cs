using Dapper;
using GenSaaS.Web.Tests.Infrastructure;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

public sealed class MigrationTests
{
    [Fact]
    public async Task StartingTwiceOnTheSameDataFolder_AppliesNothingNew_AndKeepsTheData()
    {
        var settings = new Dictionary<string, string?> { ["Jobs:RunServer"] = "false" };
        using var first = new AccountsApp(settings);
        var email = NewEmail();
        await first.CreateUserAsync(email);
        var (_, browser) = await first.SignedInUserAsync();
        await TestApp.PostFormAsync(browser, "/account/api-keys?handler=Create", new() { ["Input.Name"] = "kept" });

        long scripts;
        await using (var connection = await first.Db.OpenAsync())
        {
            scripts = await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM schemaversions");
            (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM schemaversions WHERE ScriptName LIKE '%0010_magic_links.sql' OR ScriptName LIKE '%0011_api_keys.sql'")).ShouldBe(2);
        }

        using var second = new AccountsApp(settings, dataDir: first.DataDir);
        await using (var connection = await second.Db.OpenAsync())
        {
            (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM schemaversions")).ShouldBe(scripts);
            (await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM api_keys WHERE name = 'kept'")).ShouldBe(1);
        }
        (await (await second.SignInAsync(email)).GetAsync("/generate")).StatusCode.ShouldBe(System.Net.HttpStatusCode.OK);
    }
}
