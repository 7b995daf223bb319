using System.Net;
using GenSaaS.Web.Features.Emails;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Tests.Features.Accounts;
using Microsoft.Extensions.DependencyInjection;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Shared;

/// <summary>The developer tools (emulator dev controls, the mailbox) against callers who should not reach them.</summary>
[Collection(Billing.BillingCollection.Name)]
public sealed class DevAccessTests
{
    private static AccountsApp App(string environment) =>
        new(new() { ["Billing:Mode"] = "Emulator", ["Jobs:RunServer"] = "false" }, environment: environment);

    /// <summary>A message in the outbox, as the app's own sender writes it when no SMTP server is set.</summary>
    private static async Task<string> MailAsync(AccountsApp app)
    {
        var to = NewEmail();
        await app.Services.GetRequiredService<OutboxMailSender>().SendAsync(
            new MailMessage(to, "Reset your password", "https://app.example/reset?code=secret", "<a href=\"https://app.example/reset?code=secret\">reset</a>"));
        return app.Services.GetRequiredService<OutboxMailSender>().List().Single(m => m.To == to).Id;
    }

    private static async Task ShouldAllBeAsync(HttpClient client, string mailId, HttpStatusCode expected)
    {
        foreach (var path in new[] { "/emulator/dev", "/emulator/dev/clock", "/dev/mailbox", $"/dev/mailbox/{mailId}" })
            (await client.GetAsync(path)).StatusCode.ShouldBe(expected, path);
    }

    [Fact]
    public async Task InProduction_AnonymousAndCustomers_FindNothing_EvenFromLoopback_AndCannotMoveTheClock()
    {
        using var app = App("Production");
        var mailId = await MailAsync(app);
        var clockBefore = app.Services.GetRequiredService<EmulatedStripe>().Now;

        using var anonymous = app.NewClient();
        await ShouldAllBeAsync(anonymous, mailId, HttpStatusCode.NotFound);
        (await anonymous.PostAsync("/emulator/dev/advance?days=400", null)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await anonymous.PostAsync("/emulator/dev/faults?set=Duplicate", null)).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        var (_, customer) = await app.SignedInUserAsync();
        await ShouldAllBeAsync(customer, mailId, HttpStatusCode.NotFound);
        (await customer.PostAsync("/emulator/dev/advance?days=400", null)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await customer.GetStringAsync("/generate")).ShouldNotContain("Reset your password");

        var emulator = app.Services.GetRequiredService<EmulatedStripe>();
        (emulator.Now - clockBefore).ShouldBeLessThan(TimeSpan.FromDays(1));
        emulator.Faults.ShouldBe(DeliveryFaults.None);
    }

    [Fact]
    public async Task InProduction_AnAdmin_UsesThem()
    {
        using var app = App("Production");
        var mailId = await MailAsync(app);
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        await ShouldAllBeAsync(admin, mailId, HttpStatusCode.OK);
        (await admin.GetStringAsync("/dev/mailbox")).ShouldContain("Reset your password");
        (await admin.GetStringAsync("/emulator/dev")).ShouldContain("data-testid=\"emulator-clock\"");
    }

    [Fact]
    public async Task InDevelopment_ALocalCaller_UsesThemWithoutSigningIn()
    {
        using var app = App("Development");
        var mailId = await MailAsync(app);
        using var local = app.NewClient();
        await ShouldAllBeAsync(local, mailId, HttpStatusCode.OK);
        (await local.PostAsync("/emulator/dev/advance?days=1", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("X-Forwarded-For", "203.0.113.9")]
    [InlineData("X-Forwarded-For", "127.0.0.1")]
    [InlineData("Forwarded", "for=203.0.113.9")]
    [InlineData("X-Real-IP", "203.0.113.9")]
    public async Task InDevelopment_ACallerRelayedByAProxy_FindsNothing(string header, string value)
    {
        using var app = App("Development");
        var mailId = await MailAsync(app);
        var clockBefore = app.Services.GetRequiredService<EmulatedStripe>().Now;
        using var relayed = app.NewClient();
        relayed.DefaultRequestHeaders.TryAddWithoutValidation(header, value);
        await ShouldAllBeAsync(relayed, mailId, HttpStatusCode.NotFound);
        (await relayed.PostAsync("/emulator/dev/advance?days=400", null)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (app.Services.GetRequiredService<EmulatedStripe>().Now - clockBefore).ShouldBeLessThan(TimeSpan.FromDays(1));
    }
}
