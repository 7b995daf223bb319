using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Tests.Features.Credits;
using static GenSaaS.Web.Tests.Features.Dashboard.DashboardKit;

namespace GenSaaS.Web.Tests.Features.Dashboard;

/// <summary>The CSV exports and the receipt page's boundaries, without Stripe: what a customer may read and how it is written.</summary>
public sealed class ExportAndReceiptTests(CreditsTestApp app) : IClassFixture<CreditsTestApp>
{
    private static List<string[]> ParseCsv(string csv)
    {
        var rows = new List<string[]>();
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < csv.Length; i++)
        {
            var ch = csv[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < csv.Length && csv[i + 1] == '"') { field.Append('"'); i++; }
                else if (ch == '"') quoted = false;
                else field.Append(ch);
            }
            else if (ch == '"') quoted = true;
            else if (ch == ',') { fields.Add(field.ToString()); field.Clear(); }
            else if (ch == '\r') { }
            else if (ch == '\n') { fields.Add(field.ToString()); field.Clear(); rows.Add([.. fields]); fields.Clear(); }
            else field.Append(ch);
        }
        return rows;
    }

    [Theory]
    [InlineData("/dashboard/credits.csv")]
    [InlineData("/dashboard/payments.csv")]
    [InlineData("/dashboard/payments")]
    [InlineData("/generate/0193a0c4e5b37c1d9e2f3a4b5c6d7e8f/receipt")]
    public async Task Anonymous_IsSentToSignIn(string path)
    {
        var response = await app.NewClient().GetAsync(path);
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().ShouldContain("/Identity/Account/Login");
    }

    [Fact]
    public async Task CreditsCsv_HasEveryLineOfTheCustomerOnly_WithFormulasDisarmed()
    {
        var (user, client) = await app.SignedInUserAsync();
        var (other, otherClient) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, 5, "=HYPERLINK(\"https://evil.example\",\"click\")", null, "test");
        await app.Ledger.AdjustAsync(user.Id, CreditBucket.Prepaid, 1, "@SUM(1+1)", null, "test");
        await app.Ledger.AdjustAsync(user.Id, CreditBucket.Prepaid, 1, "+cmd|' /C calc'!A0", null, "test");
        (await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "-2+3, \"quoted\" and a\nline break" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        await app.Ledger.GrantAsync(other.Id, CreditBucket.Prepaid, 3, "not yours", null, "test");
        (await otherClient.PostAsJsonAsync("/api/v1/generations", new { prompt = "someone else's prompt" })).StatusCode.ShouldBe(HttpStatusCode.Created);

        var response = await client.GetAsync("/dashboard/credits.csv");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/csv");
        response.Content.Headers.ContentDisposition!.DispositionType.ShouldBe("attachment");
        var text = await response.Content.ReadAsStringAsync();
        text.ShouldNotContain("not yours");
        text.ShouldNotContain("someone else");

        var rows = ParseCsv(text);
        rows[0].ShouldBe(["id", "created_at", "reason", "kind", "bucket", "amount", "balance_after", "description", "reference", "generation_id", "prompt"]);
        var data = rows.Skip(1).ToList();
        data.Count.ShouldBe(4);
        // Newest first: the image, the two corrections, the grant.
        data.Select(r => r[2]).ShouldBe(["generation", "adjustment", "adjustment", "grant"]);
        data[0][5].ShouldBe("-1");
        data[0][6].ShouldBe("6");
        data[0][10].ShouldBe("'-2+3, \"quoted\" and a\nline break");
        data[0][9].ShouldNotBeNullOrEmpty();
        data[1][7].ShouldBe("'+cmd|' /C calc'!A0");
        data[2][7].ShouldBe("'@SUM(1+1)");
        data[3][7].ShouldBe("'=HYPERLINK(\"https://evil.example\",\"click\")");
        data[3][5].ShouldBe("5");
        data.ShouldAllBe(r => r[0].StartsWith("cl_"));
    }

    [Fact]
    public async Task PaymentsCsv_HasTheCustomersPayments_InEachCurrencysUnit_AndTheirStripeLinks()
    {
        var (user, client) = await app.SignedInUserAsync();
        var (other, _) = await app.SignedInUserAsync();
        var now = DateTime.UtcNow;
        await InsertPaymentAsync(app.Db, user.Id, "bundle", 1000, "usd", "paid", now.AddMinutes(-3), "cs_usd", "https://pay.stripe.com/receipts/emulated/ch_1");
        await InsertPaymentAsync(app.Db, user.Id, "bundle", 1200, "jpy", "paid", now.AddMinutes(-2), "cs_jpy");
        await InsertPaymentAsync(app.Db, user.Id, "refund", 250, "usd", "succeeded", now.AddMinutes(-1), "re_1", "javascript:alert(1)");
        await InsertPaymentAsync(app.Db, other.Id, "bundle", 7777, "usd", "paid", now, "cs_theirs");

        var rows = ParseCsv(await client.GetStringAsync("/dashboard/payments.csv"));
        rows[0][..8].ShouldBe(["id", "created_at", "kind", "description", "status", "amount", "currency", "amount_minor"]);
        var data = rows.Skip(1).ToList();
        data.Select(r => r[10]).ShouldBe(["re_1", "cs_jpy", "cs_usd"]);
        data.Select(r => (r[5], r[6], r[7])).ShouldBe([("-2.5", "USD", "-250"), ("1200", "JPY", "1200"), ("10", "USD", "1000")]);
        data[2][11].ShouldBe("https://pay.stripe.com/receipts/emulated/ch_1");
        data[0][11].ShouldBe("");
    }

    [Fact]
    public async Task AnotherCustomersReceipt_IsNotFound_AsAnUnknownOne()
    {
        var (owner, ownerClient) = await app.SignedInUserAsync();
        var (_, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(owner.Id, CreditBucket.Prepaid, 2, "Bought", null, "test");
        var created = await ownerClient.PostAsJsonAsync("/api/v1/generations", new { prompt = "private sunset" });
        var id = (await created.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetString()!;

        (await ownerClient.GetAsync($"/generate/{id}/receipt")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var theirs = await client.GetAsync($"/generate/{id}/receipt");
        theirs.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await theirs.Content.ReadAsStringAsync()).ShouldNotContain("private sunset");
        (await client.GetAsync("/generate/no-such-generation/receipt")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task TrialImage_Receipt_ShowsTheUsageAndLedgerLine_AndNoStripePayment()
    {
        var (user, client) = await app.SignedInUserAsync();
        await app.Ledger.GrantAsync(user.Id, CreditBucket.Trial, 1, "Free trial", null, "system");
        var created = await client.PostAsJsonAsync("/api/v1/generations", new { prompt = "trial receipt" });
        var id = (await created.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetString()!;

        var page = await client.GetStringAsync($"/generate/{id}/receipt");
        TextOf(page, "receipt-funding").ShouldBe("free trial credits");
        Regex.Matches(page, "data-testid=\"receipt-ledger-line\"").Count.ShouldBe(1);
        page.ShouldContain("data-testid=\"receipt-no-stripe\"");
        // The credit history links each image's line to this receipt.
        (await client.GetStringAsync("/dashboard/credits")).ShouldContain($"href=\"/generate/{id}/receipt\"");
    }
}
