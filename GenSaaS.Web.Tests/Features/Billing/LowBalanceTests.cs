using System.Net;
using System.Text;
using System.Text.Json;
using GenSaaS.Web.Tests.Infrastructure;
using MimeKit;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// The low-balance warning over real HTTP and real SMTP: one email and a banner per crossing of the threshold, however
/// many generations cross together, re-armed by a purchase.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed class LowBalanceTests : IDisposable
{
    private const string Subject = "Your GenSaaS credits are running low";
    private readonly SmtpCatcher _mail = new();
    private readonly BillingTestApp _app;

    public LowBalanceTests()
    {
        _app = new BillingTestApp(_mail.Settings());
    }

    public void Dispose()
    {
        _app.Dispose();
        _mail.Dispose();
    }

    private List<MimeMessage> WarningsTo(string email) => _mail.To(email).Where(m => m.Subject == Subject).ToList();

    private static async Task<JsonElement> LowBalanceAsync(HttpClient client) =>
        JsonDocument.Parse(await client.GetStringAsync("/api/v1/me")).RootElement.GetProperty("lowBalance");

    private static async Task<HttpResponseMessage> SetThresholdAsync(HttpClient client, string value)
    {
        var token = TestApp.AntiforgeryToken(await client.GetStringAsync("/billing"));
        var form = new Dictionary<string, string> { ["LowBalanceForm.Threshold"] = value, ["__RequestVerificationToken"] = token };
        return await client.PostAsync("/billing?handler=LowBalance", new FormUrlEncodedContent(form));
    }

    private async Task BuyBundleAsync(HttpClient client, string userId, long expected)
    {
        await _app.BuyAsync(client, "bundle_25");
        await BillingTestApp.EventuallyAsync(async () => await _app.PrepaidAsync(userId) == expected, $"{expected} prepaid credits");
    }

    [Fact]
    public async Task ConcurrentGenerationsCrossingTogether_EmailOnce_ShowTheBanner_AndAPurchaseReArmsIt()
    {
        var email = NewEmail();
        var user = await _app.CreateUserAsync(email);
        var client = await _app.SignInAsync(email);
        await BuyBundleAsync(client, user.Id, 25);
        var state = await LowBalanceAsync(client);
        state.GetProperty("threshold").GetInt64().ShouldBe(5, "20 % of the 25-credit bundle");
        state.GetProperty("thresholdSet").ValueKind.ShouldBe(JsonValueKind.Null);

        (await SetThresholdAsync(client, "10")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await LowBalanceAsync(client)).GetProperty("threshold").GetInt64().ShouldBe(10);
        (await client.GetStringAsync("/billing")).ShouldNotContain("data-testid=\"low-balance-banner\"");

        // 25 -> 5: twenty generations at once, six of them end below 10.
        var first = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => _app.GenerateAsync(client)));
        first.ShouldAllBe(r => r.StatusCode == HttpStatusCode.Created);
        (await _app.PrepaidAsync(user.Id)).ShouldBe(5);
        await BillingTestApp.EventuallyAsync(() => Task.FromResult(WarningsTo(email).Count >= 1), "the low-balance email");
        (await _app.QueryAsync<long>("SELECT count(*) FROM low_balance_notices WHERE user_id = @id", new { id = user.Id })).ShouldBe(1);
        await BillingTestApp.EventuallyAsync(async () =>
            await _app.QueryAsync<long>("SELECT count(*) FROM low_balance_notices WHERE user_id = @id AND sent_at IS NOT NULL", new { id = user.Id }) == 1, "notice sent");
        WarningsTo(email).Count.ShouldBe(1);
        (WarningsTo(email)[0].HtmlBody ?? "").ShouldContain("fell below 10");
        (await LowBalanceAsync(client)).GetProperty("below").GetBoolean().ShouldBeTrue();
        var page = await client.GetStringAsync("/dashboard");
        page.ShouldContain("data-testid=\"low-balance-banner\"");
        page.ShouldContain("5 left");

        // Further generations below the threshold say nothing new.
        (await _app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);

        // A purchase lifts the balance back above 10 (4 + 25 = 29): re-armed, the banner goes.
        await BuyBundleAsync(client, user.Id, 29);
        (await LowBalanceAsync(client)).GetProperty("below").GetBoolean().ShouldBeFalse();
        (await client.GetStringAsync("/billing")).ShouldNotContain("data-testid=\"low-balance-banner\"");

        // 29 -> 9: the next crossing warns again, once.
        var second = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => _app.GenerateAsync(client)));
        second.ShouldAllBe(r => r.StatusCode == HttpStatusCode.Created);
        await BillingTestApp.EventuallyAsync(() => Task.FromResult(WarningsTo(email).Count >= 2), "the second low-balance email");
        (await _app.QueryAsync<long>("SELECT count(*) FROM low_balance_notices WHERE user_id = @id", new { id = user.Id })).ShouldBe(2);
        await BillingTestApp.EventuallyAsync(async () =>
            await _app.QueryAsync<long>("SELECT count(*) FROM low_balance_notices WHERE user_id = @id AND sent_at IS NOT NULL", new { id = user.Id }) == 2, "both sent");
        WarningsTo(email).Count.ShouldBe(2);
        (await client.GetStringAsync("/billing")).ShouldContain("data-testid=\"low-balance-banner\"");
    }

    [Theory]
    [InlineData("ten", "whole number")]
    [InlineData("-3", "whole number")]
    [InlineData("2.5", "whole number")]
    [InlineData("0", "at least 1")]
    [InlineData("1000001", "at most 1000000")]
    public async Task BadThreshold_IsRefusedOnTheForm_AndKeepsTheOneSet(string input, string message)
    {
        var (_, client) = await _app.SignedInUserAsync();
        (await SetThresholdAsync(client, "7")).StatusCode.ShouldBe(HttpStatusCode.Redirect);

        var response = await SetThresholdAsync(client, input);

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldContain(message);
        (await LowBalanceAsync(client)).GetProperty("thresholdSet").GetInt64().ShouldBe(7);

        (await SetThresholdAsync(client, "")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await LowBalanceAsync(client)).GetProperty("thresholdSet").ValueKind.ShouldBe(JsonValueKind.Null);
    }
}
