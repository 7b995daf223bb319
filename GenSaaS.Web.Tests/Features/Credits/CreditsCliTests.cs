using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Credits;

public sealed class CreditsCliTests(CreditsTestApp app) : IClassFixture<CreditsTestApp>
{
    [Fact]
    public async Task Grant_AddsCreditsWithALedgerLine_AndShowListsIt()
    {
        var email = $"cli-{Guid.NewGuid():N}@example.com";
        var user = await app.CreateUserAsync(email);

        var grant = await AppCli.RunAsync(app.DataDir, "credits", "grant", "--email", email, "--amount", "25", "--reason", "goodwill after outage");
        grant.ExitCode.ShouldBe(0, grant.Error);
        grant.Output.ShouldContain("balance now 25");
        (await app.BalanceAsync(user.Id)).Prepaid.ShouldBe(25);

        var show = await AppCli.RunAsync(app.DataDir, "credits", "show", "--email", email);
        show.ExitCode.ShouldBe(0, show.Error);
        show.Output.ShouldContain("prepaid 25");
        show.Output.ShouldContain("goodwill after outage");
        show.Output.ShouldContain("[cli:");
    }

    [Fact]
    public async Task Grant_RefusesBadInput_AndChangesNothing()
    {
        var email = $"cli-bad-{Guid.NewGuid():N}@example.com";
        var user = await app.CreateUserAsync(email);

        (await AppCli.RunAsync(app.DataDir, "credits", "grant", "--email", email, "--amount", "ten", "--reason", "x")).ExitCode.ShouldNotBe(0);
        (await AppCli.RunAsync(app.DataDir, "credits", "grant", "--email", "nobody@example.com", "--amount", "5", "--reason", "x")).ExitCode.ShouldNotBe(0);
        var negative = await AppCli.RunAsync(app.DataDir, "credits", "grant", "--email", email, "--amount", "-5", "--reason", "x");
        negative.ExitCode.ShouldNotBe(0);
        negative.Error.ShouldContain("cannot go below zero");
        (await app.CountAsync("SELECT count(*) FROM credit_ledger WHERE user_id = @Id", user)).ShouldBe(0);
    }
}
