using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using GenSaaS.Web.Tests.Infrastructure;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

/// <summary>The operator commands, run as an operator would: the built app binary in its own process, on the app's data folder.</summary>
public sealed class CliTests : IDisposable
{
    private readonly AccountsApp _app = new();

    public void Dispose() => _app.Dispose();

    private Task<CliResult> RunAsync(params string[] args) => AppCli.RunAsync(_app.DataDir, args);

    [Fact]
    public async Task UsersAdd_CreatesAConfirmedAdmin_WhoCanSignInAndOpenTheJobsDashboard()
    {
        var email = NewEmail();
        var result = await RunAsync("users", "add", "--email", email, "--password", "Operator-Pass-42", "--admin", "--confirmed");
        result.ExitCode.ShouldBe(0, result.Error);
        result.Output.ShouldContain($"Created admin {email}");

        var admin = await _app.SignInAsync(email, "Operator-Pass-42");
        (await admin.GetAsync("/hangfire")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task UsersAdd_RefusesWeakPasswordsAndDuplicates_WithAClearErrorAndNonZeroExit()
    {
        var email = NewEmail();
        var weak = await RunAsync("users", "add", "--email", email, "--password", "short");
        weak.ExitCode.ShouldNotBe(0);
        weak.Error.ShouldContain("Passwords must be at least 10 characters");

        (await RunAsync("users", "add", "--email", email, "--password", "Operator-Pass-42")).ExitCode.ShouldBe(0);
        var duplicate = await RunAsync("users", "add", "--email", email, "--password", "Operator-Pass-42");
        duplicate.ExitCode.ShouldNotBe(0);
        duplicate.Error.ShouldContain("is already taken");

        var missing = await RunAsync("users", "add", "--email", email);
        missing.ExitCode.ShouldBe(64);
        missing.Error.ShouldContain("--password is required");
    }

    [Fact]
    public async Task ApiKeysCreate_PrintsAKeyThatAuthenticatesTheApi()
    {
        var email = NewEmail();
        await _app.CreateUserAsync(email);
        var result = await RunAsync("apikeys", "create", "--email", email, "--name", "from the cli");
        result.ExitCode.ShouldBe(0, result.Error);
        var key = result.Output.Trim();
        key.ShouldStartWith("gsk_");

        using var api = _app.NewClient();
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var list = await api.GetAsync("/api/v1/generations");
        list.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await list.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data").GetArrayLength().ShouldBe(0);

        var unknown = await RunAsync("apikeys", "create", "--email", NewEmail(), "--name", "nobody");
        unknown.ExitCode.ShouldNotBe(0);
        unknown.Error.ShouldContain("no user with email");
    }
}
