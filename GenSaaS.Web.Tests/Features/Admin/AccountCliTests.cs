using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Admin;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>
/// <c>users confirm|lock|unlock|promote|demote</c> run as an operator would (the app binary in its own process): each changes
/// what it says with one audit entry by <c>cli:&lt;OS user&gt;</c>, a repeat changes nothing, an unknown address is a clear
/// error with a non-zero exit, and the last admin is never locked or demoted.
/// </summary>
public sealed class AccountCliTests
{
    private static async Task<IdentityUser> UserAsync(AdminTestApp app, string id)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return (await scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>().FindByIdAsync(id))!;
    }

    private static async Task<bool> IsAdminAsync(AdminTestApp app, string id)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        return await users.IsInRoleAsync((await users.FindByIdAsync(id))!, Roles.Admin);
    }

    [Fact]
    public async Task UsersCommands_ActWithTheOperatorAsActor_RepeatsChangeNothing_AndRefusalsAreClear()
    {
        // Its own database: the last-admin refusal needs to know every admin there is.
        using var app = new AdminTestApp();
        var boss = await app.CreateUserAsync($"boss-{Guid.NewGuid():N}@example.com", admin: true);
        var email = $"cli-user-{Guid.NewGuid():N}@example.com";
        var customer = await app.CreateUserAsync(email, confirmed: false);
        var actor = $"cli:{Environment.UserName}";

        async Task<CliResult> Run(params string[] args)
        {
            var result = await AppCli.RunAsync(app.DataDir, args);
            return result;
        }

        var confirm = await Run("users", "confirm", "--email", email, "--reason", "ticket 9");
        confirm.ExitCode.ShouldBe(0, confirm.Error);
        confirm.Output.ShouldContain("Confirmed");
        (await UserAsync(app, customer.Id)).EmailConfirmed.ShouldBeTrue();
        var entry = (await app.AuditAsync(customer.Id, AuditActions.UserConfirmEmail)).ShouldHaveSingleItem();
        (entry.Actor, entry.ActorKind, entry.Reason).ShouldBe((actor, "cli", "ticket 9"));
        var again = await Run("users", "confirm", "--email", email, "--reason", "ticket 9");
        again.ExitCode.ShouldBe(0, again.Error);
        again.Output.ShouldContain("nothing changed");
        (await app.AuditAsync(customer.Id, AuditActions.UserConfirmEmail)).ShouldHaveSingleItem();

        (await Run("users", "lock", "--email", email, "--reason", "abuse")).ExitCode.ShouldBe(0);
        (await UserAsync(app, customer.Id)).LockoutEnd.ShouldBe(DateTimeOffset.MaxValue);
        (await Run("users", "unlock", "--email", email, "--reason", "appeal")).ExitCode.ShouldBe(0);
        (await UserAsync(app, customer.Id)).LockoutEnd.ShouldBeNull();
        (await Run("users", "promote", "--email", email)).ExitCode.ShouldBe(0);
        (await IsAdminAsync(app, customer.Id)).ShouldBeTrue();
        (await app.AuditAsync(customer.Id, AuditActions.UserPromote)).ShouldHaveSingleItem().Reason.ShouldBe(UsersAccountCommand.DefaultReason);
        (await Run("users", "demote", "--email", email, "--reason", "temp access over")).ExitCode.ShouldBe(0);
        (await IsAdminAsync(app, customer.Id)).ShouldBeFalse();
        var entries = await app.AuditAsync(customer.Id);
        entries.Count.ShouldBe(5);
        entries.ShouldAllBe(e => e.Actor == actor && e.ActorKind == "cli");

        // An unknown address, or no address: a clear message, a non-zero exit, nothing written.
        var unknown = await Run("users", "lock", "--email", "nobody@example.com", "--reason", "x");
        unknown.ExitCode.ShouldBe(1);
        unknown.Error.ShouldContain("no user with email nobody@example.com");
        (await Run("users", "lock", "--reason", "x")).ExitCode.ShouldBe(64);

        // The boss is the only admin: neither locked nor demoted.
        (await app.ScalarAsync("SELECT count(*) FROM AspNetUserRoles")).ShouldBe(1);
        foreach (var word in new[] { "demote", "lock" })
        {
            var refused = await Run("users", word, "--email", boss.Email!, "--reason", "testing");
            refused.ExitCode.ShouldBe(1);
            refused.Error.ShouldContain("only admin");
        }
        (await IsAdminAsync(app, boss.Id)).ShouldBeTrue();
        (await UserAsync(app, boss.Id)).LockoutEnd.ShouldBeNull();
        (await app.AuditAsync(boss.Id)).ShouldBeEmpty();

        var tail = await Run("audit", "tail", "--target", customer.Id);
        tail.ExitCode.ShouldBe(0, tail.Error);
        tail.Output.ShouldContain($"{actor} (cli)  user.lock  {customer.Id}  \"abuse\"");
    }
}
