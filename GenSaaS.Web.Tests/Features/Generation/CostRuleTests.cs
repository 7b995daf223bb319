using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Generation;
using GenSaaS.Web.Tests.Features.Billing;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Tests.Features.Generation;

/// <summary>"Large images cost 2": the cost rule changes, and the balance, counters, release, cap and card charge follow.</summary>
public sealed class CostRuleTests
{
    private static Dictionary<string, string?> LargeCostsTwo(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Credits:TrialCredits"] = "0",
            ["Credits:TrialRatePerMinute"] = "100000",
            ["Billing:Plans:bundle_10:RatePerMinute"] = "100000",
            ["Billing:Plans:subscription_unlimited:RatePerMinute"] = "100000",
            ["Billing:Plans:subscription_unlimited:SoftLimit"] = "5",
            ["Billing:Plans:subscription_unlimited:HardCap"] = "7",
            ["Generation:Backend"] = "Null",
            ["Generation:Http:Size"] = "1024x1024",
            ["Generation:Cost:UnitsBySize:1024x1024"] = "2",
        };
        foreach (var (key, value) in more ?? [])
            settings[key] = value;
        return settings;
    }

    private static async Task<T> QueryAsync<T>(TestApp app, string sql, object args)
    {
        await using var connection = await app.Db.OpenAsync();
        return await connection.ExecuteScalarAsync<T>(sql, args) ?? throw new InvalidOperationException("no row");
    }

    [Theory]
    [InlineData("1024x1024", 2)]
    [InlineData("512x512", 1)]
    public void UnitsFor_TheSizeAskedFor(string size, int units)
    {
        var options = new GenerationOptions { Cost = new CostOptions { UnitsBySize = new(StringComparer.OrdinalIgnoreCase) { ["1024x1024"] = 2 } } };
        new CostRule(Options.Create(options)).UnitsFor(new GenerationRequest("a cat", null, size)).ShouldBe(units);
    }

    [Fact]
    public async Task LargeImagesCostTwo_CreditsAndCountersFollow()
    {
        using var app = new TestApp(LargeCostsTwo());
        var (user, client) = await app.SignedInUserAsync();
        await app.Services.GetRequiredService<CreditLedger>().GrantAsync(user.Id, CreditBucket.Prepaid, 5, "bundle", $"cost-{user.Id}", "test");

        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "one" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await QueryAsync<long>(app, "SELECT prepaid_balance FROM credit_balances WHERE user_id = @Id", user)).ShouldBe(3);
        (await QueryAsync<long>(app, "SELECT units FROM usage WHERE user_id = @Id", user)).ShouldBe(2);
        var me = await client.GetFromJsonAsync<JsonElement>("/api/v1/me");
        me.GetProperty("generationsThisPeriod").GetInt64().ShouldBe(2);

        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "two" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        using var third = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "three" });
        third.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired, "one credit left does not pay for two units");
        (await third.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString().ShouldBe("insufficient_credits");
        (await QueryAsync<long>(app, "SELECT prepaid_balance FROM credit_balances WHERE user_id = @Id", user)).ShouldBe(1);
        (await QueryAsync<long>(app, "SELECT coalesce(sum(used), 0) FROM usage_counters WHERE user_id = @Id", user)).ShouldBe(4);
    }

    [Fact]
    public async Task LargeImagesCostTwo_AFailedGenerationGivesBothUnitsBack()
    {
        using var app = new TestApp(LargeCostsTwo(new() { ["Generation:Backend"] = "Http", ["Generation:Http:BaseUrl"] = "http://127.0.0.1:9" }));
        var (user, client) = await app.SignedInUserAsync();
        await app.Services.GetRequiredService<CreditLedger>().GrantAsync(user.Id, CreditBucket.Prepaid, 5, "bundle", $"cost-{user.Id}", "test");

        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "never drawn" })).StatusCode.ShouldBe(HttpStatusCode.BadGateway);
        (await QueryAsync<long>(app, "SELECT prepaid_balance FROM credit_balances WHERE user_id = @Id", user)).ShouldBe(5);
        (await QueryAsync<long>(app, "SELECT coalesce(sum(used), 0) FROM usage_counters WHERE user_id = @Id", user)).ShouldBe(0);
        (await QueryAsync<long>(app, "SELECT amount FROM credit_ledger WHERE user_id = @Id AND kind = 'release'", user)).ShouldBe(2);
        (await QueryAsync<string>(app, "SELECT error_code FROM usage WHERE user_id = @Id", user)).ShouldBe("generation_failed");
    }

    [Fact]
    public async Task LargeImagesCostTwo_TheFairUseCapCountsUnits()
    {
        using var app = new TestApp(LargeCostsTwo());
        var (user, client) = await app.SignedInUserAsync();
        await using (var connection = await app.Db.OpenAsync())
            await connection.ExecuteAsync("""
                INSERT INTO subscriptions (stripe_subscription_id, user_id, plan_key, status, current_period_start, current_period_end, updated_at)
                VALUES (@id, @userId, 'subscription_unlimited', 'active', @start, @end, @start)
                """, new { id = "sub_" + Guid.NewGuid().ToString("N"), userId = user.Id, start = DateTime.UtcNow.AddDays(-1), end = DateTime.UtcNow.AddDays(29) });

        for (var i = 0; i < 3; i++)
            (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = $"ok {i}" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        using var capped = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "one too many" });
        capped.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests, "6 units used, 2 more would pass the hard cap of 7");
        var problem = await capped.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("code").GetString().ShouldBe("fair_use_limit");
        problem.GetProperty("title").GetString()!.ShouldContain("You have made 6 images this period");
    }

    [Fact]
    public async Task LargeImagesCostTwo_PayPerUseChargesTwiceTheUnitPrice()
    {
        using var app = new BillingTestApp(new() { ["Generation:Http:Size"] = "1024x1024", ["Generation:Cost:UnitsBySize:1024x1024"] = "2" });
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id }) is not null, "card saved");
        await app.ExecuteAsync("UPDATE credit_balances SET trial_balance = 0 WHERE user_id = @id", new { id = user.Id });

        (await app.GenerateAsync(client)).StatusCode.ShouldBe(HttpStatusCode.Created);
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT state FROM usage_charges WHERE user_id = @id", new { id = user.Id }) == "captured", "capture");
        (await app.QueryAsync<long>("SELECT amount_minor FROM usage_charges WHERE user_id = @id", new { id = user.Id })).ShouldBe(100);
        (await app.QueryAsync<long>("SELECT amount_minor FROM payments WHERE user_id = @id AND kind = 'capture'", new { id = user.Id })).ShouldBe(100);
    }
}
