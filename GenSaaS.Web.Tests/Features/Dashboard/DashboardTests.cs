using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Tests.Features.Credits;
using static GenSaaS.Web.Tests.Features.Dashboard.DashboardKit;

namespace GenSaaS.Web.Tests.Features.Dashboard;

public sealed class DashboardTests(CreditsTestApp app) : IClassFixture<CreditsTestApp>
{
    [Theory]
    [InlineData("/dashboard")]
    [InlineData("/dashboard/credits")]
    public async Task Anonymous_IsSentToSignIn(string path)
    {
        var response = await app.NewClient().GetAsync(path);
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login");
    }

    [Fact]
    public async Task PrepaidCustomer_SeesCredits_AndLatestImages()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 10, "bundle", $"dash-{user.Id}", "test");
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "dashboard fox" })).StatusCode.ShouldBe(HttpStatusCode.Created);

        var page = await client.GetStringAsync("/dashboard");
        page.ShouldContain("<span data-testid=\"dashboard-credits\">9</span>");
        page.ShouldContain("data-testid=\"plan-name\">Prepaid credits<");
        page.ShouldContain("data-testid=\"generation-thumbnail\"");
        page.ShouldContain("dashboard fox");
        page.ShouldNotContain("data-testid=\"next-billing-date\"");
    }

    [Fact]
    public async Task Credits_AreShownByKind_TrialAndPrepaidApart()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Trial, 3, "Welcome", null, "test");
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 20, "Bought", null, "test");
        // One bucket covering the image pays: trial first.
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "kinds" })).StatusCode.ShouldBe(HttpStatusCode.Created);

        var page = await client.GetStringAsync("/dashboard");
        TextOf(page, "credits-trial").ShouldBe("2");
        TextOf(page, "credits-prepaid").ShouldBe("20");
        TextOf(page, "dashboard-credits").ShouldBe("22");
        TextOf(page, "allowance-left").ShouldBeNull();
        TextOf(page, "plan-billing")!.ShouldStartWith("No monthly plan");
    }

    [Fact]
    public async Task Subscriber_SeesNextBillingDate_AndUsageMeter()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.SubscribeAsync(user.Id);
        for (var i = 0; i < 4; i++)
            (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = $"sub {i}" })).StatusCode.ShouldBe(HttpStatusCode.Created);

        var page = await client.GetStringAsync("/dashboard");
        page.ShouldContain($"data-testid=\"next-billing-date\" datetime=\"{DateTime.UtcNow.AddDays(29):yyyy-MM-dd}\"");
        page.ShouldContain("data-testid=\"usage-meter\"");
        page.ShouldContain("value=\"4\"");
        page.ShouldContain("4 of 5 fair-use images");
        // The plan's allowance within its hard cap (7 in this app): 4 used, 3 left.
        TextOf(page, "allowance-used").ShouldBe("4 of 7");
        TextOf(page, "allowance-left").ShouldBe("3");
        page.ShouldNotContain("data-testid=\"cancel-at-period-end\"");
    }

    [Fact]
    public async Task Subscriber_WhoCanceled_SeesThePlanEndsAndWillNotRenew()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.SubscribeAsync(user.Id);
        await app.ExecuteAsync("UPDATE subscriptions SET cancel_at_period_end = 1 WHERE user_id = @id", new { id = user.Id });

        var page = await client.GetStringAsync("/dashboard");
        TextOf(page, "cancel-at-period-end")!.ShouldStartWith("Canceled: your plan ends on");
        page.ShouldContain("will not renew");
        page.ShouldContain($"data-testid=\"next-billing-date\" datetime=\"{DateTime.UtcNow.AddDays(29):yyyy-MM-dd}\"");
        page.ShouldNotContain("Next billing date");
    }

    [Fact]
    public async Task CustomerWithoutCreditsOrPlan_IsToldThereIsNoPlan()
    {
        var (_, client) = await app.SignedInUserAsync();
        var page = await client.GetStringAsync("/dashboard");
        TextOf(page, "dashboard-plan").ShouldBe("No plan");
        TextOf(page, "plan-billing")!.ShouldStartWith("No plan:");
        page.ShouldContain("data-testid=\"no-spend\"");
    }

    [Fact]
    public async Task PayPerUseCustomer_IsToldTheCardPaysPerImage()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.ExecuteAsync("""
            INSERT INTO billing_customers (user_id, stripe_customer_id, default_payment_method, card_brand, card_last4, pay_per_use_card, updated_at)
            VALUES (@id, @customer, 'pm_card', 'visa', '4242', 1, @now)
            """, new { id = user.Id, customer = "cus_" + Guid.NewGuid().ToString("N"), now = Time(DateTime.UtcNow) });

        var page = await client.GetStringAsync("/dashboard");
        TextOf(page, "plan-billing")!.ShouldStartWith("Pay per use: your saved card is charged");
        page.ShouldContain("per image, no monthly bill");
    }

    [Fact]
    public async Task Chart_ShowsImagesAndSpendPerDay_ForTheLast30Days_InEachCurrencysDecimals()
    {
        var (user, client) = await app.SignedInUserAsync();
        var (other, _) = await app.SignedInUserAsync();
        var now = DateTime.UtcNow;
        // Images: 2 three days ago, 1 twenty-nine days ago (the oldest day shown), 1 thirty days ago (not shown), 1 made now.
        await InsertGenerationAsync(app.Db, user.Id, now.AddDays(-3));
        await InsertGenerationAsync(app.Db, user.Id, now.AddDays(-3).AddSeconds(1));
        await InsertGenerationAsync(app.Db, user.Id, now.AddDays(-29));
        await InsertGenerationAsync(app.Db, user.Id, now.AddDays(-30));
        await InsertGenerationAsync(app.Db, other.Id, now.AddDays(-3));
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 1, "one", null, "test");
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "today" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        // Money: a USD bundle and a refund of part of it on another day, a JPY bundle, a hold (no money moved) and another's payment.
        await InsertPaymentAsync(app.Db, user.Id, "bundle", 1000, "usd", "paid", now.AddDays(-3));
        await InsertPaymentAsync(app.Db, user.Id, "capture", 5, "usd", "succeeded", now.AddDays(-3));
        await InsertPaymentAsync(app.Db, user.Id, "refund", 250, "usd", "succeeded", now.AddDays(-1));
        await InsertPaymentAsync(app.Db, user.Id, "bundle", 1200, "jpy", "paid", now.AddDays(-2));
        await InsertPaymentAsync(app.Db, user.Id, "authorisation", 5, "usd", "authorised", now);
        await InsertPaymentAsync(app.Db, user.Id, "bundle", 990, "usd", "unpaid", now);
        await InsertPaymentAsync(app.Db, other.Id, "bundle", 7777, "usd", "paid", now);

        var page = await client.GetStringAsync("/dashboard");

        var images = Bars(page, "chart-generations");
        images.Count.ShouldBe(30);
        images[0].Day.ShouldBe(Day(now.AddDays(-29)));
        images[^1].Day.ShouldBe(Day(now));
        images.Single(b => b.Day == Day(now.AddDays(-3))).Value.ShouldBe(2);
        images.Single(b => b.Day == Day(now.AddDays(-29))).Value.ShouldBe(1);
        images[^1].Value.ShouldBe(1);
        images.Sum(b => b.Value).ShouldBe(4);

        var usd = Bars(page, "chart-spend-usd");
        usd.Single(b => b.Day == Day(now.AddDays(-3))).Value.ShouldBe(1005);
        usd.Single(b => b.Day == Day(now.AddDays(-1))).Value.ShouldBe(-250);
        usd.Where(b => b.Day == Day(now)).Single().Value.ShouldBe(0);
        Bars(page, "chart-spend-jpy").Single(b => b.Day == Day(now.AddDays(-2))).Value.ShouldBe(1200);

        // The table says the same in words, each currency with its own decimals.
        page.ShouldContain("7.55 USD in the last 30 days");
        page.ShouldContain("1200 JPY in the last 30 days");
        var row = Regex.Match(page, $"data-testid=\"activity-row\" data-day=\"{Day(now.AddDays(-3))}\">[\\s\\S]*?</tr>").Value;
        TextOf(row, "activity-generations").ShouldBe("2");
        TextOf(row, "activity-spend-usd").ShouldBe("10.05 USD");
        TextOf(row, "activity-spend-jpy").ShouldBe("0 JPY");
        var jpyRow = Regex.Match(page, $"data-testid=\"activity-row\" data-day=\"{Day(now.AddDays(-2))}\">[\\s\\S]*?</tr>").Value;
        TextOf(jpyRow, "activity-spend-jpy").ShouldBe("1200 JPY");
    }

    [Fact]
    public async Task Chart_IsAnAccessibleSvg_WithoutScript()
    {
        var (user, client) = await app.SignedInUserAsync();
        await InsertGenerationAsync(app.Db, user.Id, DateTime.UtcNow);
        var page = await client.GetStringAsync("/dashboard");
        var svg = Regex.Match(page, "<svg[^>]*data-testid=\"chart-generations\"[\\s\\S]*?</svg>").Value;
        svg.ShouldContain("role=\"img\"");
        svg.ShouldContain("aria-labelledby=\"chart-generations-title chart-generations-desc\"");
        svg.ShouldContain("<title id=\"chart-generations-title\">Images per day, last 30 days</title>");
        svg.ShouldContain("<desc id=\"chart-generations-desc\">1 image in the last 30 days.</desc>");
        svg.ShouldNotContain("<script");
        svg.ShouldNotContain("style=");
        Regex.Matches(svg, "<rect[^>]*><title>[^<]+</title></rect>").Count.ShouldBe(30);
        page.ShouldContain("data-testid=\"activity-table\"");
    }
}
