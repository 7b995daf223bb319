using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Tests.Features.Credits;
using static GenSaaS.Web.Tests.Features.Dashboard.DashboardKit;

namespace GenSaaS.Web.Tests.Features.Dashboard;

public sealed class CreditHistoryTests(CreditsTestApp app) : IClassFixture<CreditsTestApp>
{
    private static List<(string Id, string Reason, string Amount)> Lines(string html) =>
        Regex.Matches(html, "data-testid=\"credit-line\" data-line-id=\"(cl_[0-9]+)\" data-reason=\"([a-z]+)\">[\\s\\S]*?data-testid=\"credit-amount\">([^<]*)<")
            .Select(m => (m.Groups[1].Value, m.Groups[2].Value, WebUtility.HtmlDecode(m.Groups[3].Value))).ToList();

    private static string? OlderLink(string html) =>
        Regex.Match(html, "href=\"([^\"]+)\"[^>]*data-testid=\"credit-history-older\"") is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : null;

    [Fact]
    public async Task EveryLine_IsShownWithItsReason_NewestFirst()
    {
        var (user, client) = await app.SignedInUserAsync();
        var sessionId = "cs_test_" + Guid.NewGuid().ToString("N");
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Trial, 2, "Free trial credits", null, "system");
        var bought = await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 10, "Bought 10 credits", sessionId, "system");
        await InsertPaymentAsync(app.Db, user.Id, "bundle", 500, "usd", "paid", DateTime.UtcNow, stripeId: sessionId);
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "history" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        await app.Ledger.AdjustAsync(user.Id, CreditBucket.Prepaid, -1, "Correction by support", null, "admin@example.com");
        var refundId = "re_" + Guid.NewGuid().ToString("N");
        await app.Ledger.TakeBackAsync(user.Id, CreditBucket.Prepaid, 4, $"Refund {refundId} of bundle_10", refundId, "system");
        await app.ExecuteAsync("""
            INSERT INTO credit_ledger (user_id, bucket, kind, amount, balance_after, reason, actor, created_at)
            SELECT user_id, 'trial', 'expiry', -1, trial_balance - 1, 'Trial credits expired', 'system', @now FROM credit_balances WHERE user_id = @id;
            UPDATE credit_balances SET trial_balance = trial_balance - 1 WHERE user_id = @id;
            """, new { id = user.Id, now = Time(DateTime.UtcNow) });

        var page = await client.GetStringAsync("/dashboard/credits");
        var lines = Lines(page);
        lines.Select(l => (l.Reason, l.Amount)).ShouldBe([
            ("expiry", "-1"), ("refund", "-4"), ("adjustment", "-1"), ("generation", "-1"), ("purchase", "+10"), ("grant", "+2")]);
        lines.Select(l => long.Parse(l.Id[3..])).ShouldBeInOrder(SortDirection.Descending);
        lines[4].Id.ShouldBe($"cl_{bought.EntryId}");
        page.ShouldContain("Correction by support");
        page.ShouldContain("Trial credits expired");
        OlderLink(page).ShouldBeNull();
    }

    [Fact]
    public async Task AFailedImage_ReturnsItsCredit_AsARefundLine()
    {
        var (user, _) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 5, "Bought", null, "system");
        var reservation = await app.Ledger.ReserveAsync(user.Id, "key-" + Guid.NewGuid().ToString("N"), "hash");
        await app.Ledger.ReleaseAsync(reservation.Usage!.Id, "generation_failed", "the generator failed");
        using var client = await app.SignInAsync(user.Email!);

        var lines = Lines(await client.GetStringAsync("/dashboard/credits"));
        lines.Select(l => (l.Reason, l.Amount)).ShouldBe([("refund", "+1"), ("generation", "-1"), ("grant", "+5")]);
    }

    [Fact]
    public async Task Pages_FollowTheCursor_WithoutRepeatsOrGaps_WhileNewLinesArrive()
    {
        var (user, client) = await app.SignedInUserAsync();
        for (var i = 1; i <= 25; i++)
            await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, i, $"grant {i}", null, "test");

        var first = await client.GetStringAsync("/dashboard/credits?limit=10");
        var seen = Lines(first).Select(l => l.Amount).ToList();
        seen.ShouldBe(Enumerable.Range(16, 10).Reverse().Select(i => $"+{i}").ToList());
        var older = OlderLink(first);
        older.ShouldNotBeNull();
        older.ShouldContain("limit=10");

        // Lines written meanwhile (another tab buys, an image is made) land before the cursor, never on a later page.
        for (var i = 100; i < 105; i++)
            await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, i, $"late {i}", null, "test");

        while (older is not null)
        {
            var page = await client.GetStringAsync(older);
            seen.AddRange(Lines(page).Select(l => l.Amount));
            older = OlderLink(page);
        }
        seen.ShouldBe(Enumerable.Range(1, 25).Reverse().Select(i => $"+{i}").ToList());

        var newest = Lines(await client.GetStringAsync("/dashboard/credits?limit=10"));
        newest.Take(5).Select(l => l.Amount).ShouldBe(["+104", "+103", "+102", "+101", "+100"]);
    }

    [Fact]
    public async Task OlderLink_AnsweredToHtmx_IsTheListAlone()
    {
        var (user, client) = await app.SignedInUserAsync();
        for (var i = 1; i <= 3; i++)
            await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, i, $"grant {i}", null, "test");
        var older = OlderLink(await client.GetStringAsync("/dashboard/credits?limit=2"))!;
        using var request = new HttpRequestMessage(HttpMethod.Get, older);
        request.Headers.Add("HX-Request", "true");
        request.Headers.Add("HX-Target", "credit-history");
        var response = await client.SendAsync(request);
        var html = await response.Content.ReadAsStringAsync();
        response.Headers.Vary.ShouldContain("HX-Request");
        html.ShouldNotContain("<html");
        Lines(html).Select(l => l.Amount).ShouldBe(["+1"]);
    }

    [Fact]
    public async Task AnotherCustomersLines_NeverShow_AndTheirCursorShowsTheNewestPageWithANote()
    {
        var (user, client) = await app.SignedInUserAsync();
        var (other, _) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 7, "mine", null, "test");
        var theirs = await app.Ledger.GrantAsync(other.Id, CreditBucket.Prepaid, 99, "someone else's", null, "test");
        await app.Ledger.GrantAsync(other.Id, CreditBucket.Prepaid, 98, "someone else's older", null, "test");

        var page = await client.GetStringAsync($"/dashboard/credits?starting_after=cl_{theirs.EntryId + 1}");
        page.ShouldContain("data-testid=\"credit-history-notice\"");
        Lines(page).Select(l => l.Amount).ShouldBe(["+7"]);
        page.ShouldNotContain("someone else's");

        foreach (var bad in new[] { "garbage", "cl_", "cl_-1", "pay_1", "cl_99999999999999999999" })
        {
            var response = await client.GetAsync($"/dashboard/credits?starting_after={Uri.EscapeDataString(bad)}");
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            (await response.Content.ReadAsStringAsync()).ShouldContain("data-testid=\"credit-history-notice\"");
        }
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=101")]
    [InlineData("limit=ten")]
    [InlineData("limit=1&limit=2")]
    public async Task ABadLimit_IsRefused(string query)
    {
        var (_, client) = await app.SignedInUserAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/dashboard/credits?" + query);
        request.Headers.Accept.ParseAdd("text/html");
        (await client.SendAsync(request)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }
}
