using GenSaaS.Web.Features.Emails;
using GenSaaS.Web.Tests.Features.Accounts;
using Microsoft.Extensions.DependencyInjection;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Emails;

/// <summary><see cref="Mailer.SendOnceAsync{TEmail}"/> on its own: jobs that run together, run again, or fail half-way.</summary>
public sealed class SendOnceTests
{
    private static async Task<bool> SendAsync(AccountsApp app, string reference, string userId, Func<CancellationToken, Task<LowBalance?>> compose)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<Mailer>().SendOnceAsync(reference, userId, compose);
    }

    private static Task<LowBalance?> Compose(CancellationToken _) => Task.FromResult<LowBalance?>(new LowBalance(10, 3, "https://gensaas.test/billing"));

    [Fact]
    public async Task TwentyRunsAtOnce_ForOneEvent_SendOneEmail_AndLaterRunsSendNothing()
    {
        using var app = new AccountsApp(new() { ["Jobs:RunServer"] = "false" });
        var email = NewEmail();
        var user = await app.CreateUserAsync(email);

        var sent = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => SendAsync(app, "notice-1", user.Id, Compose))));
        sent.Count(s => s).ShouldBe(1);
        (await SendAsync(app, "notice-1", user.Id, Compose)).ShouldBeFalse();
        app.OutboxFor(email).Count.ShouldBe(1);

        // Another event of the same kind is another email.
        (await SendAsync(app, "notice-2", user.Id, Compose)).ShouldBeTrue();
        app.OutboxFor(email).Count.ShouldBe(2);
    }

    [Fact]
    public async Task ARunThatFails_GivesTheClaimBack_SoTheRetrySends_Once()
    {
        using var app = new AccountsApp(new() { ["Jobs:RunServer"] = "false" });
        var email = NewEmail();
        var user = await app.CreateUserAsync(email);

        await Should.ThrowAsync<TimeoutException>(() => SendAsync(app, "notice-1", user.Id, _ => throw new TimeoutException("the relay did not answer")));
        app.OutboxFor(email).ShouldBeEmpty();

        (await SendAsync(app, "notice-1", user.Id, Compose)).ShouldBeTrue();
        (await SendAsync(app, "notice-1", user.Id, Compose)).ShouldBeFalse();
        var mail = app.OutboxFor(email).ShouldHaveSingleItem();
        mail.Subject.ShouldBe("Your GenSaaS credits are running low");
        mail.TextBody.ShouldNotBeNull().ShouldContain("fell below 10: 3 left");
    }

    [Fact]
    public async Task AClaimLeftByARunThatDied_IsTakenOverAfterItsLifetime_NotBefore()
    {
        using var app = new AccountsApp(new() { ["Jobs:RunServer"] = "false" });
        var email = NewEmail();
        var user = await app.CreateUserAsync(email);
        // A run claimed the email and then its process died: the claim is there, the mail is not sent.
        await app.Db.ExecuteAsync("INSERT INTO sent_emails (kind, reference, user_id, claimed_at) VALUES ('LowBalance', 'notice-1', @userId, @now)",
            new { userId = user.Id, now = app.Clock.GetUtcNow().UtcDateTime });

        (await SendAsync(app, "notice-1", user.Id, Compose)).ShouldBeFalse();
        app.Clock.Advance(Mailer.ClaimLifetime + TimeSpan.FromSeconds(1));
        (await SendAsync(app, "notice-1", user.Id, Compose)).ShouldBeTrue();
        app.OutboxFor(email).ShouldHaveSingleItem();
    }

    [Fact]
    public async Task NothingToSay_KeepsNoRow_SoALaterRunForTheSameEventMaySend()
    {
        using var app = new AccountsApp(new() { ["Jobs:RunServer"] = "false" });
        var email = NewEmail();
        var user = await app.CreateUserAsync(email);

        (await SendAsync(app, "notice-1", user.Id, _ => Task.FromResult<LowBalance?>(null))).ShouldBeFalse();
        app.OutboxFor(email).ShouldBeEmpty();
        (await SendAsync(app, "notice-1", user.Id, Compose)).ShouldBeTrue();
        app.OutboxFor(email).ShouldHaveSingleItem();
    }
}
