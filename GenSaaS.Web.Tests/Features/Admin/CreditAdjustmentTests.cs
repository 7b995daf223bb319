using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Admin;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>
/// Credit adjustments through the admin API and the CLI: each writes one ledger line of kind <c>adjustment</c> and one audit entry
/// and moves exactly the amount asked; a take-back below zero, bad input and replays change nothing.
/// </summary>
public sealed class CreditAdjustmentTests(AdminTestApp app) : IClassFixture<AdminTestApp>
{
    private async Task<long> LedgerLinesAsync(string userId, string kind = "adjustment") =>
        await app.ScalarAsync("SELECT count(*) FROM credit_ledger WHERE user_id = @userId AND kind = @kind", new { userId, kind });

    [Fact]
    public async Task Grant_MovesExactlyTheAmount_WithOneLedgerLineAndOneAuditEntry()
    {
        var (admin, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"grant-{Guid.NewGuid():N}@example.com");

        var body = await AdminTestApp.JsonAsync(await AdminTestApp.AdjustAsync(key, customer.Id, new { amount = 25, reason = "  outage on the 3rd  " }), HttpStatusCode.OK);
        body.GetProperty("object").GetString().ShouldBe("credit_adjustment");
        body.GetProperty("prepaidCredits").GetInt64().ShouldBe(25);
        body.GetProperty("trialCredits").GetInt64().ShouldBe(3);
        body.GetProperty("replayed").GetBoolean().ShouldBeFalse();

        (await app.BalanceAsync(customer.Id)).ShouldBe((3L, 25L));
        (await LedgerLinesAsync(customer.Id)).ShouldBe(1);
        (await app.ScalarAsync("SELECT count(*) FROM credit_ledger WHERE user_id = @Id AND kind = 'adjustment' AND amount = 25 AND actor = @actor AND reason = 'outage on the 3rd'",
            new { customer.Id, actor = admin.Id })).ShouldBe(1);

        var entry = (await app.AuditAsync(customer.Id, AuditActions.CreditsAdjust)).ShouldHaveSingleItem();
        entry.Actor.ShouldBe(admin.Id);
        entry.ActorKind.ShouldBe("api_key");
        entry.Reason.ShouldBe("outage on the 3rd");
        var before = JsonDocument.Parse(entry.BeforeJson!).RootElement;
        var after = JsonDocument.Parse(entry.AfterJson!).RootElement;
        (before.GetProperty("trial").GetInt64(), before.GetProperty("prepaid").GetInt64()).ShouldBe((3L, 0L));
        (after.GetProperty("trial").GetInt64(), after.GetProperty("prepaid").GetInt64()).ShouldBe((3L, 25L));
        after.GetProperty("ledgerLineId").GetString().ShouldBe(body.GetProperty("ledgerLineId").GetString());
        body.GetProperty("auditId").GetString().ShouldBe($"aud_{entry.Id}");

        // The customer sees the line in their own ledger.
        var own = await app.KeyClientAsync(customer.Id, ApiKeyScopes.Read);
        var ledger = await AdminTestApp.JsonAsync(await own.GetAsync("/api/v1/ledger"), HttpStatusCode.OK);
        ledger.GetProperty("data")[0].GetProperty("kind").GetString().ShouldBe("adjustment");
    }

    [Fact]
    public async Task TakeBack_BelowZero_IsRefused_AndChangesNothing_WhileWithinTheBalanceItTakesExactly()
    {
        var (_, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"takeback-{Guid.NewGuid():N}@example.com");
        (await AdminTestApp.AdjustAsync(key, customer.Id, new { amount = 5, reason = "grant" })).StatusCode.ShouldBe(HttpStatusCode.OK);

        var refused = await AdminTestApp.JsonAsync(await AdminTestApp.AdjustAsync(key, customer.Id, new { amount = -6, reason = "too much" }), HttpStatusCode.Conflict);
        refused.GetProperty("code").GetString().ShouldBe("insufficient_credits");
        refused.GetProperty("detail").GetString()!.ShouldContain("cannot go below zero");
        (await app.BalanceAsync(customer.Id)).ShouldBe((3L, 5L));
        (await LedgerLinesAsync(customer.Id)).ShouldBe(1);
        (await app.AuditAsync(customer.Id)).Count.ShouldBe(1);

        var taken = await AdminTestApp.JsonAsync(await AdminTestApp.AdjustAsync(key, customer.Id, new { amount = -2, reason = "charged twice", bucket = "trial" }), HttpStatusCode.OK);
        taken.GetProperty("trialCredits").GetInt64().ShouldBe(1);
        (await app.BalanceAsync(customer.Id)).ShouldBe((1L, 5L));
        (await app.AuditAsync(customer.Id)).Count.ShouldBe(2);
    }

    [Fact]
    public async Task SameIdempotencyKey_AdjustsOnce_AndAnotherBodyWithItIsAConflict()
    {
        var (_, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"replay-{Guid.NewGuid():N}@example.com");
        var tasks = Enumerable.Range(0, 5).Select(_ => AdminTestApp.AdjustAsync(key, customer.Id, new { amount = 7, reason = "once" }, "key-1")).ToList();
        var answers = await Task.WhenAll(tasks);
        answers.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
        var bodies = await Task.WhenAll(answers.Select(r => r.Content.ReadFromJsonAsync<JsonElement>()));
        bodies.Count(b => !b.GetProperty("replayed").GetBoolean()).ShouldBe(1);
        bodies.Select(b => b.GetProperty("ledgerLineId").GetString()).Distinct().ShouldHaveSingleItem();
        (await app.BalanceAsync(customer.Id)).Prepaid.ShouldBe(7);
        (await app.AuditAsync(customer.Id)).ShouldHaveSingleItem();

        var conflict = await AdminTestApp.JsonAsync(await AdminTestApp.AdjustAsync(key, customer.Id, new { amount = 8, reason = "once" }, "key-1"), HttpStatusCode.Conflict);
        conflict.GetProperty("code").GetString().ShouldBe("idempotency_conflict");
        (await app.BalanceAsync(customer.Id)).Prepaid.ShouldBe(7);
    }

    [Theory]
    [InlineData("{\"amount\": 5}", "reason")]
    [InlineData("{\"amount\": 5, \"reason\": \"   \"}", "reason")]
    [InlineData("{\"amount\": 0, \"reason\": \"zero\"}", "amount")]
    [InlineData("{\"reason\": \"no amount\"}", "amount")]
    [InlineData("{\"amount\": \"5\", \"reason\": \"string amount\"}", "amount")]
    [InlineData("{\"amount\": 2.5, \"reason\": \"fraction\"}", "amount")]
    [InlineData("{\"amount\": 99999999999, \"reason\": \"huge\"}", "amount")]
    [InlineData("{\"amount\": 5, \"reason\": 12}", "reason")]
    [InlineData("{\"amount\": 5, \"reason\": \"x\", \"bucket\": \"gold\"}", "bucket")]
    [InlineData("{\"amount\": 5, \"reason\": \"x\", \"user\": \"someone\"}", "user")]
    [InlineData("[5]", "body")]
    [InlineData("{\"amount\": 5,", "body")]
    public async Task BadBodies_Are400ValidationFailed_NamingTheField_AndChangeNothing(string json, string field)
    {
        var (_, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"bad-{Guid.NewGuid():N}@example.com");
        var response = await key.PostAsync($"/api/v1/admin/customers/{customer.Id}/credits", new StringContent(json, Encoding.UTF8, "application/json"));
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = await AdminTestApp.JsonAsync(response, HttpStatusCode.BadRequest);
        problem.GetProperty("code").GetString().ShouldBe("validation_failed");
        problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue(problem.ToString());
        (await LedgerLinesAsync(customer.Id)).ShouldBe(0);
        (await app.AuditAsync(customer.Id)).ShouldBeEmpty();
    }

    [Fact]
    public async Task UnknownCustomer_Is404_AndNothingIsWritten()
    {
        var (_, key) = await app.AdminKeyAsync();
        var before = await app.ScalarAsync("SELECT count(*) FROM audit_log WHERE action = 'credits.adjust'");
        var problem = await AdminTestApp.JsonAsync(await AdminTestApp.AdjustAsync(key, "no-such-user", new { amount = 5, reason = "x" }), HttpStatusCode.NotFound);
        problem.GetProperty("code").GetString().ShouldBe("not_found");
        (await app.ScalarAsync("SELECT count(*) FROM audit_log WHERE action = 'credits.adjust'")).ShouldBe(before);
    }

    [Fact]
    public async Task Cli_AdjustsWithTheOperatorAsActor_AndAuditTailShowsIt()
    {
        var email = $"cli-{Guid.NewGuid():N}@example.com";
        var customer = await app.CreateUserAsync(email);
        var operatorName = Environment.UserName;

        var grant = await AppCli.RunAsync(app.DataDir, "credits", "adjust", "--email", email, "--amount", "12", "--reason", "refund by phone");
        grant.ExitCode.ShouldBe(0, grant.Error);
        grant.Output.ShouldContain("prepaid balance now 12");
        (await app.BalanceAsync(customer.Id)).Prepaid.ShouldBe(12);
        var entry = (await app.AuditAsync(customer.Id)).ShouldHaveSingleItem();
        (entry.Actor, entry.ActorKind, entry.Action, entry.Reason).ShouldBe(($"cli:{operatorName}", "cli", "credits.adjust", "refund by phone"));
        (await app.ScalarAsync("SELECT count(*) FROM credit_ledger WHERE user_id = @Id AND kind = 'adjustment' AND actor = @actor",
            new { customer.Id, actor = $"cli:{operatorName}" })).ShouldBe(1);

        var tooMuch = await AppCli.RunAsync(app.DataDir, "credits", "adjust", "--email", email, "--amount", "-13", "--reason", "oops");
        tooMuch.ExitCode.ShouldBe(1);
        tooMuch.Error.ShouldContain("cannot go below zero");
        (await AppCli.RunAsync(app.DataDir, "credits", "adjust", "--email", email, "--amount", "5")).ExitCode.ShouldBe(64);
        (await AppCli.RunAsync(app.DataDir, "credits", "adjust", "--email", email, "--amount", "0", "--reason", "zero")).ExitCode.ShouldBe(64);
        (await app.BalanceAsync(customer.Id)).Prepaid.ShouldBe(12);
        (await app.AuditAsync(customer.Id)).ShouldHaveSingleItem();

        var tail = await AppCli.RunAsync(app.DataDir, "audit", "tail", "--target", customer.Id);
        tail.ExitCode.ShouldBe(0, tail.Error);
        tail.Output.ShouldContain($"cli:{operatorName} (cli)  credits.adjust  {customer.Id}  \"refund by phone\"");
    }

    private static string Logs(TestApp app)
    {
        var text = new StringBuilder();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(app.DataDir, "logs"), "*.log"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            text.Append(reader.ReadToEnd());
        }
        return text.ToString();
    }

    /// <summary>The log lines of credit changes made with this reference.</summary>
    private static List<string> ChangeLogLines(TestApp app, string reference) =>
        Logs(app).Split('\n').Where(l => l.Contains("Credits adjustment", StringComparison.Ordinal) && l.Contains($"({reference})", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task Service_RefusesWhatNoCallerMaySend_EvenIfACallerForgetsToCheck_AndAppliesAtTheLimits()
    {
        // Every caller (API, page, CLI) checks these first; the service holds the line for the next caller that does not.
        var adjustments = app.Services.GetRequiredService<CreditAdjustments>();
        var actor = new AuditActor($"admin-{Guid.NewGuid():N}", AuditActor.AdminKind);
        var customer = await app.CreateUserAsync($"limits-{Guid.NewGuid():N}@example.com");
        Task<AdjustOutcome> AdjustAsync(int amount, string reason) =>
            adjustments.AdjustAsync(actor, customer.Id, CreditBucket.Prepaid, amount, reason, $"limits:{Guid.NewGuid():N}");

        foreach (var amount in new[] { 0, CreditAdjustments.MaxAmount + 1, -(CreditAdjustments.MaxAmount + 1) })
            (await Should.ThrowAsync<ArgumentOutOfRangeException>(() => AdjustAsync(amount, "out of range"))).Message.ShouldContain("1 to 1000000 credits");
        foreach (var reason in new[] { "", "   ", new string('r', CreditAdjustments.MaxReasonLength + 1) })
        {
            var refused = await Should.ThrowAsync<ArgumentException>(() => AdjustAsync(5, reason));
            refused.ParamName.ShouldBe("reason");
            refused.Message.ShouldContain("A reason of 1 to 500 characters is required");
        }
        (await LedgerLinesAsync(customer.Id)).ShouldBe(0);
        (await app.AuditAsync(customer.Id)).ShouldBeEmpty();

        // At the limits: the most credits one adjustment may move, each way, with the longest reason once trimmed.
        var longest = new string('r', CreditAdjustments.MaxReasonLength);
        var granted = await AdjustAsync(CreditAdjustments.MaxAmount, $"  {longest}  ");
        (granted.Status, granted.Balance, granted.Trial, granted.Prepaid).ShouldBe((AdjustStatus.Applied, CreditAdjustments.MaxAmount, 3L, CreditAdjustments.MaxAmount));
        (await app.ScalarAsync("SELECT count(*) FROM credit_ledger WHERE id = @LedgerLineId AND reason = @longest", new { granted.LedgerLineId, longest })).ShouldBe(1);
        (await app.AuditAsync(customer.Id, AuditActions.CreditsAdjust)).ShouldHaveSingleItem().Reason.ShouldBe(longest);
        var takenBack = await AdjustAsync(-CreditAdjustments.MaxAmount, "all of it back");
        (takenBack.Status, takenBack.Balance, takenBack.Prepaid).ShouldBe((AdjustStatus.Applied, 0L, 0L));
        (await app.BalanceAsync(customer.Id)).ShouldBe((3L, 0L));
    }

    [Fact]
    public async Task Service_ReplayAndConflict_AnswerTheBucketsBalance_WithTheFirstLine_AndOnlyTheAppliedAdjustmentIsLogged()
    {
        var adjustments = app.Services.GetRequiredService<CreditAdjustments>();
        var actor = new AuditActor($"admin-{Guid.NewGuid():N}", AuditActor.AdminKind);
        var customer = await app.CreateUserAsync($"trial-{Guid.NewGuid():N}@example.com");
        var reference = $"replay:{Guid.NewGuid():N}";
        // The trial bucket, so the two buckets' balances differ (trial 3 + 2, prepaid 0).
        var first = await adjustments.AdjustAsync(actor, customer.Id, CreditBucket.Trial, 2, "  make good  ", reference);
        (first.Status, first.Trial, first.Prepaid, first.Balance).ShouldBe((AdjustStatus.Applied, 5L, 0L, 5L));
        first.LedgerLineId.ShouldNotBeNull();
        var entry = (await app.AuditAsync(customer.Id, AuditActions.CreditsAdjust)).ShouldHaveSingleItem();
        first.AuditId.ShouldBe(entry.Id);
        (entry.Actor, entry.ActorKind, entry.Reason).ShouldBe((actor.Id, "admin", "make good"));
        var after = JsonDocument.Parse(entry.AfterJson!).RootElement;
        (after.GetProperty("bucket").GetString(), after.GetProperty("amount").GetInt32(), after.GetProperty("trial").GetInt64()).ShouldBe(("trial", 2, 5L));
        after.GetProperty("ledgerLineId").GetString().ShouldBe($"cl_{first.LedgerLineId}");
        ChangeLogLines(app, reference).ShouldHaveSingleItem().ShouldContain($"Credits adjustment 2 trial for {customer.Id} by {actor.Id}: make good ({reference})");

        var replayed = await adjustments.AdjustAsync(actor, customer.Id, CreditBucket.Trial, 2, "make good", reference);
        replayed.ShouldBe(new AdjustOutcome(AdjustStatus.Replayed, 5, 0, 5, first.LedgerLineId, null));

        var conflict = await adjustments.AdjustAsync(actor, customer.Id, CreditBucket.Trial, 3, "make good", reference);
        (conflict.Status, conflict.Trial, conflict.Prepaid, conflict.Balance, conflict.LedgerLineId, conflict.AuditId)
            .ShouldBe((AdjustStatus.Conflict, 5L, 0L, 5L, first.LedgerLineId, (long?)null));
        conflict.Message.ShouldBe("This request's key was already used for a different adjustment.");

        var belowZero = await adjustments.AdjustAsync(actor, customer.Id, CreditBucket.Trial, -6, "more than there is", $"below:{reference}");
        (belowZero.Status, belowZero.Balance, belowZero.LedgerLineId, belowZero.AuditId).ShouldBe((AdjustStatus.BelowZero, 5L, (long?)null, (long?)null));
        belowZero.Message!.ShouldContain("cannot go below zero");

        (await app.BalanceAsync(customer.Id)).ShouldBe((5L, 0L));
        (await LedgerLinesAsync(customer.Id)).ShouldBe(1);
        (await app.AuditAsync(customer.Id)).ShouldHaveSingleItem();
        ChangeLogLines(app, reference).ShouldHaveSingleItem();
        ChangeLogLines(app, $"below:{reference}").ShouldBeEmpty();

        // The same for the prepaid bucket: its balance (7), not the trial one (5).
        var prepaid = await adjustments.AdjustAsync(actor, customer.Id, CreditBucket.Prepaid, 7, "prepaid make good", $"prepaid:{reference}");
        (prepaid.Status, prepaid.Balance).ShouldBe((AdjustStatus.Applied, 7L));
        (await adjustments.AdjustAsync(actor, customer.Id, CreditBucket.Prepaid, 7, "prepaid make good", $"prepaid:{reference}"))
            .ShouldBe(new AdjustOutcome(AdjustStatus.Replayed, 5, 7, 7, prepaid.LedgerLineId, null));
    }
}
