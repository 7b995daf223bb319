using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Credits;
using GenSaaS.Web.Features.Generation;
using GenSaaS.Web.Tests.Features.Credits;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Generation;

/// <summary>
/// The history as a customer and an API client meet it over HTTP: cursor pages (Stripe's list rules) that stay true while
/// new images arrive, bad paging input, and delete and download for the owner only, with the credit left spent.
/// </summary>
public sealed class HistoryTests(CreditsTestApp app) : IClassFixture<CreditsTestApp>
{
    private static readonly Dictionary<string, string> Htmx = new() { ["HX-Request"] = "true", ["HX-Target"] = "generation-history" };

    /// <summary>
    /// Stores <paramref name="count"/> finished generations straight into the table, oldest first, a minute apart from
    /// <paramref name="from"/>; every third one shares its time with the one before, so ties must be broken by id.
    /// </summary>
    private async Task<List<string>> SeedAsync(string userId, int count, DateTime from)
    {
        var rows = new List<GenerationRecord>();
        var at = from;
        for (var i = 0; i < count; i++)
        {
            if (i % 3 != 2)
                at = at.AddMinutes(1);
            rows.Add(new GenerationRecord(Guid.NewGuid().ToString("N"), userId, $"seeded {i}", i, "null", 64, 64, 1, at));
        }
        await app.Db.WriteAsync((connection, tx) =>
        {
            foreach (var row in rows)
                GenerationStore.Insert(connection, tx, row);
            return 0;
        });
        return rows.OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.Id, StringComparer.Ordinal).Select(r => r.Id).ToList();
    }

    private static async Task<JsonElement> ListAsync(HttpClient client, string query)
    {
        var response = await client.GetAsync("/api/v1/generations" + query);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static List<string> Ids(JsonElement list) =>
        list.GetProperty("data").EnumerateArray().Select(g => g.GetProperty("id").GetString()!).ToList();

    private static async Task ShouldBeProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code, string? parameter = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(status, text);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        using var problem = JsonDocument.Parse(text);
        problem.RootElement.GetProperty("code").GetString().ShouldBe(code);
        if (parameter is not null)
            problem.RootElement.GetProperty("errors").TryGetProperty(parameter, out _).ShouldBeTrue(text);
    }

    private async Task<HttpClient> ApiAsync(string userId, params string[] scopes)
    {
        var created = await app.Services.GetRequiredService<ApiKeyStore>().CreateAsync(userId, "history test", scopes, CancellationToken.None);
        var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", created!.Value.Key);
        return client;
    }

    private async Task<(string UserId, HttpClient Client)> CustomerWithCreditsAsync(int credits)
    {
        var (user, client) = await app.SignedInUserAsync();
        if (credits > 0)
            await app.Ledger.GrantAsync(user.Id, CreditBucket.Prepaid, credits, "test", $"history-{user.Id}", "test");
        return (user.Id, client);
    }

    private static async Task<string> GenerateAsync(HttpClient client, string prompt)
    {
        var response = await client.PostAsJsonAsync("/api/v1/generations", new { prompt });
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task PagingThroughEveryPage_ReturnsEachGenerationOnce_NewestFirst_WhileNewOnesArrive()
    {
        var (userId, client) = await CustomerWithCreditsAsync(10);
        var expected = await SeedAsync(userId, 23, DateTime.UtcNow.AddDays(-1));
        using var api = await ApiAsync(userId, ApiKeyScopes.Read);

        var seen = new List<string>();
        var arrived = new List<string>();
        var query = "?limit=5";
        for (var pages = 1; ; pages++)
        {
            var list = await ListAsync(api, query);
            list.GetProperty("object").GetString().ShouldBe("list");
            var ids = Ids(list);
            seen.AddRange(ids);
            if (!list.GetProperty("has_more").GetBoolean())
            {
                pages.ShouldBe(5, "23 generations in pages of 5");
                ids.Count.ShouldBe(3);
                break;
            }
            ids.Count.ShouldBe(5);
            pages.ShouldBeLessThan(5);
            // A new image arrives between pages, as it would from another tab or a script.
            arrived.Add(await GenerateAsync(client, $"arrived after page {pages}"));
            query = $"?limit=5&starting_after={ids[^1]}";
        }

        seen.ShouldBe(expected, "every generation once, newest first, none repeated or skipped");
        var first = Ids(await ListAsync(api, "?limit=100"));
        first.Take(arrived.Count).ShouldBe(Enumerable.Reverse(arrived), "the new ones come first on a fresh first page");
        first.Count.ShouldBe(expected.Count + arrived.Count);
    }

    [Fact]
    public async Task Limit_DefaultsToTen_AndTakesOneToAHundred()
    {
        var (userId, client) = await CustomerWithCreditsAsync(0);
        var expected = await SeedAsync(userId, 12, DateTime.UtcNow.AddHours(-2));

        var byDefault = await ListAsync(client, "");
        Ids(byDefault).ShouldBe(expected.Take(10));
        byDefault.GetProperty("has_more").GetBoolean().ShouldBeTrue();
        var one = await ListAsync(client, "?limit=1");
        Ids(one).ShouldBe(expected.Take(1));
        var hundred = await ListAsync(client, "?limit=100");
        Ids(hundred).ShouldBe(expected);
        hundred.GetProperty("has_more").GetBoolean().ShouldBeFalse();
        var exact = await ListAsync(client, "?limit=12");
        exact.GetProperty("has_more").GetBoolean().ShouldBeFalse("a last page that is exactly full has nothing after it");
        var last = await ListAsync(client, $"?starting_after={expected[^1]}");
        Ids(last).ShouldBeEmpty();
        last.GetProperty("has_more").GetBoolean().ShouldBeFalse();
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=101")]
    [InlineData("limit=-1")]
    [InlineData("limit=abc")]
    [InlineData("limit=1.5")]
    [InlineData("limit=")]
    [InlineData("limit=99999999999999999999")]
    [InlineData("limit=5&limit=6")]
    public async Task BadLimit_Is400ValidationFailed_NamingLimit(string query)
    {
        var (_, client) = await CustomerWithCreditsAsync(0);
        await ShouldBeProblemAsync(await client.GetAsync($"/api/v1/generations?{query}"), HttpStatusCode.BadRequest, "validation_failed", "limit");
    }

    [Fact]
    public async Task StartingAfter_AnotherCustomersOrAnUnknownOrADeletedId_Is400ResourceMissing_AndRevealsNothing()
    {
        var (mineId, mine) = await CustomerWithCreditsAsync(1);
        var (theirsId, _) = await CustomerWithCreditsAsync(0);
        var theirs = await SeedAsync(theirsId, 3, DateTime.UtcNow.AddHours(-1));
        await SeedAsync(mineId, 3, DateTime.UtcNow.AddHours(-1));

        var foreign = await mine.GetAsync($"/api/v1/generations?starting_after={theirs[0]}");
        await ShouldBeProblemAsync(foreign, HttpStatusCode.BadRequest, "resource_missing", "starting_after");
        var unknown = await mine.GetAsync($"/api/v1/generations?starting_after={Guid.NewGuid():N}");
        await ShouldBeProblemAsync(unknown, HttpStatusCode.BadRequest, "resource_missing", "starting_after");
        // The same words for both, so an answer does not tell whether an id exists.
        (await foreign.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("title").GetString()
            .ShouldBe((await unknown.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("title").GetString());

        var made = await GenerateAsync(mine, "soon gone");
        // As a cross-site page would send it: the session cookie, and no antiforgery token or custom header.
        mine.DefaultRequestHeaders.Remove("X-Requested-With");
        await ShouldBeProblemAsync(await mine.DeleteAsync($"/api/v1/generations/{made}"), HttpStatusCode.BadRequest, "antiforgery_failed");
        mine.DefaultRequestHeaders.Add("X-Requested-With", "XMLHttpRequest");
        (await mine.GetAsync($"/api/v1/generations/{made}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        using var deleter = await ApiAsync(mineId, ApiKeyScopes.Delete);
        (await deleter.DeleteAsync($"/api/v1/generations/{made}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await ShouldBeProblemAsync(await mine.GetAsync($"/api/v1/generations?starting_after={made}"), HttpStatusCode.BadRequest, "resource_missing", "starting_after");
    }

    [Theory]
    [InlineData("page=2")]
    [InlineData("pageSize=5")]
    [InlineData("ending_before=abc")]
    [InlineData("offset=10")]
    public async Task ParametersOfOtherPagingSchemes_Are400ParameterUnknown(string query)
    {
        var (_, client) = await CustomerWithCreditsAsync(0);
        await ShouldBeProblemAsync(await client.GetAsync($"/api/v1/generations?{query}"), HttpStatusCode.BadRequest, "parameter_unknown", query.Split('=')[0]);
    }

    [Fact]
    public async Task Delete_ByTheOwner_RemovesTheImage_KeepsTheCreditSpent_AndAStrangerGets404()
    {
        var (ownerId, owner) = await CustomerWithCreditsAsync(2);
        var id = await GenerateAsync(owner, "a kite to delete");
        var kept = await GenerateAsync(owner, "a kite to keep");
        var balance = await app.BalanceAsync(ownerId);
        var ledger = await app.LedgerSumAsync(ownerId);
        var ledgerLines = await app.CountAsync("SELECT count(*) FROM credit_ledger WHERE user_id = @ownerId", new { ownerId });

        var (strangerId, _) = await CustomerWithCreditsAsync(0);
        using var stranger = await ApiAsync(strangerId, ApiKeyScopes.Delete, ApiKeyScopes.Read);
        await ShouldBeProblemAsync(await stranger.DeleteAsync($"/api/v1/generations/{id}"), HttpStatusCode.NotFound, "not_found");
        (await stranger.GetAsync($"/images/{id}/download")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await owner.GetAsync($"/images/{id}.png")).StatusCode.ShouldBe(HttpStatusCode.OK, "the stranger's attempt changed nothing");

        using var ownerKey = await ApiAsync(ownerId, ApiKeyScopes.Delete);
        var deleted = await ownerKey.DeleteAsync($"/api/v1/generations/{id}");
        deleted.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await deleted.Content.ReadFromJsonAsync<JsonElement>();
        (body.GetProperty("id").GetString(), body.GetProperty("deleted").GetBoolean()).ShouldBe((id, true));

        (await owner.GetAsync($"/api/v1/generations/{id}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await owner.GetAsync($"/images/{id}.png")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await owner.GetAsync($"/images/{id}/download")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        Ids(await ListAsync(owner, "")).ShouldBe([kept]);
        (await app.CountAsync("SELECT count(*) FROM generation_images WHERE generation_id = @id", new { id })).ShouldBe(0);
        await ShouldBeProblemAsync(await ownerKey.DeleteAsync($"/api/v1/generations/{id}"), HttpStatusCode.NotFound, "not_found");

        (await app.BalanceAsync(ownerId)).ShouldBe(balance, "deleting refunds nothing");
        (await app.LedgerSumAsync(ownerId)).ShouldBe(ledger);
        (await app.CountAsync("SELECT count(*) FROM credit_ledger WHERE user_id = @ownerId", new { ownerId })).ShouldBe(ledgerLines, "no ledger line is added or removed");
        (await app.CountAsync("SELECT count(*) FROM usage WHERE generation_id = @id AND state = 'succeeded'", new { id })).ShouldBe(1, "the usage that paid for it stays");
    }

    [Fact]
    public async Task ReplayingTheKeyOfADeletedImage_Is410_AndChargesNothingAgain()
    {
        var (ownerId, owner) = await CustomerWithCreditsAsync(2);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/generations") { Content = JsonContent.Create(new { prompt = "once only" }) };
        request.Headers.Add("Idempotency-Key", "replay-after-delete");
        using var api = await ApiAsync(ownerId, ApiKeyScopes.Generate, ApiKeyScopes.Delete);
        var created = await api.SendAsync(request);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        (await api.DeleteAsync($"/api/v1/generations/{id}")).StatusCode.ShouldBe(HttpStatusCode.OK);

        using var again = new HttpRequestMessage(HttpMethod.Post, "/api/v1/generations") { Content = JsonContent.Create(new { prompt = "once only" }) };
        again.Headers.Add("Idempotency-Key", "replay-after-delete");
        await ShouldBeProblemAsync(await api.SendAsync(again), HttpStatusCode.Gone, "generation_deleted");
        (await app.BalanceAsync(ownerId)).Prepaid.ShouldBe(1);
    }

    [Fact]
    public async Task ApiKeys_NeedTheDeleteScopeToDelete_AndReadToDownload()
    {
        var (ownerId, owner) = await CustomerWithCreditsAsync(1);
        var id = await GenerateAsync(owner, "guarded");

        using var everyday = await ApiAsync(ownerId, ApiKeyScopes.Default.ToArray());
        var refused = await everyday.DeleteAsync($"/api/v1/generations/{id}");
        await ShouldBeProblemAsync(refused, HttpStatusCode.Forbidden, "insufficient_scope");
        refused.Headers.WwwAuthenticate.ToString().ShouldContain("scope=\"delete\"");
        using var generateOnly = await ApiAsync(ownerId, ApiKeyScopes.Generate);
        await ShouldBeProblemAsync(await generateOnly.GetAsync($"/images/{id}/download"), HttpStatusCode.Forbidden, "insufficient_scope");

        var download = await everyday.GetAsync($"/images/{id}/download");
        download.StatusCode.ShouldBe(HttpStatusCode.OK);
        download.Content.Headers.ContentType!.MediaType.ShouldBe("image/png");
        download.Content.Headers.ContentDisposition!.DispositionType.ShouldBe("attachment");
        download.Content.Headers.ContentDisposition.FileName!.Trim('"').ShouldBe($"gensaas-{id}.png");
        (await download.Content.ReadAsByteArrayAsync()).ShouldBe(await owner.GetByteArrayAsync($"/images/{id}.png"));

        (await owner.GetAsync($"/api/v1/generations/{id}")).StatusCode.ShouldBe(HttpStatusCode.OK, "the refused delete deleted nothing");
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        (await admin.GetAsync($"/images/{id}/download")).StatusCode.ShouldBe(HttpStatusCode.NotFound, "download is the owner's alone");
    }

    [Fact]
    public async Task GeneratePage_OlderLinkWalksTheHistory_WithAndWithoutHtmx()
    {
        var (userId, client) = await CustomerWithCreditsAsync(0);
        var expected = await SeedAsync(userId, 15, DateTime.UtcNow.AddHours(-3));
        static List<string> Shown(string html) =>
            Regex.Matches(html, "data-testid=\"history-item\" data-generation-id=\"([0-9a-f]+)\"").Select(m => m.Groups[1].Value).ToList();
        static string? Older(string html) =>
            Regex.Match(html, "<a href=\"([^\"]+)\"[^>]*data-testid=\"history-older\"") is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : null;

        var first = await client.GetStringAsync("/generate");
        Shown(first).ShouldBe(expected.Take(12));
        var older = Older(first).ShouldNotBeNull();
        older.ShouldBe($"/generate?starting_after={expected[11]}");

        var second = await client.GetStringAsync(older);
        second.ShouldContain("<html");
        Shown(second).ShouldBe(expected.Skip(12));
        Older(second).ShouldBeNull("the last page has no older link");
        second.ShouldContain("data-testid=\"history-newest\"");

        using var request = new HttpRequestMessage(HttpMethod.Get, older);
        foreach (var (name, value) in Htmx)
            request.Headers.Add(name, value);
        var partial = await client.SendAsync(request);
        partial.StatusCode.ShouldBe(HttpStatusCode.OK);
        partial.Headers.Vary.ShouldContain("HX-Request");
        var fragment = await partial.Content.ReadAsStringAsync();
        fragment.ShouldNotContain("<html");
        Shown(fragment).ShouldBe(expected.Skip(12));

        // Two tabs: one deletes the image the other tab's "Older" link starts after; that link then shows the newest page and says why.
        var deletedForm = await TestApp.PostFormAsync(client, "/generate?handler=Delete", new() { ["id"] = expected[11] });
        deletedForm.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var stale = await client.GetAsync(older);
        stale.StatusCode.ShouldBe(HttpStatusCode.OK);
        var staleHtml = await stale.Content.ReadAsStringAsync();
        staleHtml.ShouldContain("data-testid=\"history-notice\"");
        Shown(staleHtml).ShouldBe(expected.Take(11).Concat(expected.Skip(12).Take(1)));

        var (_, stranger) = await CustomerWithCreditsAsync(0);
        var theirs = await stranger.GetStringAsync(older);
        Shown(theirs).ShouldBeEmpty("another customer's cursor shows them nothing of this customer's");
        theirs.ShouldContain("data-testid=\"history-notice\"");
    }

    [Fact]
    public async Task GeneratePage_DeleteForm_NeedsItsToken_IsOwnerOnly_AndSaysTheCreditStaysSpent()
    {
        var (ownerId, owner) = await CustomerWithCreditsAsync(1);
        var id = await GenerateAsync(owner, "delete me from the page");
        var page = await owner.GetStringAsync("/generate");
        page.ShouldContain("The credit it used stays spent");
        var balance = await app.BalanceAsync(ownerId);

        var noToken = await owner.PostAsync("/generate?handler=Delete", new FormUrlEncodedContent(new Dictionary<string, string> { ["id"] = id }));
        noToken.StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        var (_, stranger) = await CustomerWithCreditsAsync(0);
        var theirs = await TestApp.PostFormAsync(stranger, "/generate?handler=Delete", new() { ["id"] = id });
        theirs.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await owner.GetAsync($"/api/v1/generations/{id}")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var deleted = await TestApp.PostFormAsync(owner, "/generate?handler=Delete", new() { ["id"] = id });
        deleted.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        deleted.Headers.Location!.ToString().ShouldBe("/generate");
        var after = await owner.GetStringAsync("/generate");
        after.ShouldContain(GenSaaS.Web.Features.Generation.Index.DeletedMessage);
        after.ShouldNotContain($"data-generation-id=\"{id}\"");
        (await owner.GetAsync($"/api/v1/generations/{id}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await app.BalanceAsync(ownerId)).ShouldBe(balance);

        var twice = await TestApp.PostFormAsync(owner, "/generate?handler=Delete", new() { ["id"] = id });
        twice.StatusCode.ShouldBe(HttpStatusCode.NotFound, "a double click's second post finds nothing to delete");
    }
}
