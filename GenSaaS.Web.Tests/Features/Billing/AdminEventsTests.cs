using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Dapper;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Admin;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// <c>/admin/billing/events</c>, <c>/admin/billing/events/{id}</c> and <c>GET /api/v1/admin/events</c>: cursor paging while events
/// arrive, each search, the payload escaped, and Replay: only for a failed event, once per form however often it is sent, with
/// the applier's own account of what it changed, audited once.
/// </summary>
[Collection(BillingCollection.Name)]
public sealed partial class AdminEventsTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private static string Event(string type, JsonObject obj, string? id = null) => BillingTestApp.EventJson(type, obj, id: id);

    private static JsonObject PaidBundleSession(string customerId, string? userId, string? note = null) => BillingTestApp.PaidBundleSession(customerId, userId, note);

    private const string SeedSql = """
        INSERT INTO stripe_events (id, type, object_id, created, payload, status, attempts, last_error, received_at, applied_at)
        VALUES (@id, @type, @objectId, @created, @payload, @status, @attempts, @lastError, @receivedAt, CASE WHEN @status = 'applied' THEN @receivedAt END);
        """;

    /// <summary>Stores an event as the webhook endpoint would have (a failed one as after its retry schedule ended); returns its id.</summary>
    private async Task<string> SeedAsync(string payload, string status, DateTime? receivedAt = null, string? lastError = null, long attempts = 9)
    {
        var node = JsonNode.Parse(payload)!;
        var id = node["id"]!.GetValue<string>();
        await app.ExecuteAsync(SeedSql, new
        {
            id, type = node["type"]!.GetValue<string>(), objectId = node["data"]!["object"]!["id"]?.GetValue<string>(), created = node["created"]!.GetValue<long>(),
            payload, status, attempts, lastError = status == "failed" ? lastError ?? "held for the test" : null, receivedAt = receivedAt ?? DateTime.UtcNow,
        });
        return id;
    }

    private async Task<HttpClient> AdminKeyClientAsync()
    {
        var admin = await app.CreateUserAsync($"events-admin-{Guid.NewGuid():N}@example.com", admin: true);
        var created = await app.Services.GetRequiredService<ApiKeyStore>().CreateAsync(admin.Id, "events test", [ApiKeyScopes.Admin, ApiKeyScopes.Read], CancellationToken.None);
        var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", created!.Value.Key);
        return client;
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static List<string> Ids(JsonElement list) => list.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToList();

    [GeneratedRegex("name=\"Replay\\.Token\"[^>]*value=\"([0-9a-f]{32})\"")]
    private static partial Regex ReplayTokenRegex();

    /// <summary>The replay form of an event's page: antiforgery token, form token and a reason.</summary>
    private static Dictionary<string, string> ReplayForm(string page, string reason = "customer says the credits never came") => new()
    {
        ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(page),
        ["Replay.Token"] = ReplayTokenRegex().Match(page) is { Success: true } m ? m.Groups[1].Value : throw new ShouldAssertException("no replay form on the page"),
        ["Replay.Reason"] = reason,
    };

    private static Task<HttpResponseMessage> PostReplayAsync(HttpClient admin, string eventId, Dictionary<string, string> form) =>
        admin.PostAsync($"/admin/billing/events/{Uri.EscapeDataString(eventId)}?handler=Replay", new FormUrlEncodedContent(form));

    private Task<List<(long Id, string Reason, string AfterJson)>> ReplayAuditAsync(string eventId) =>
        app.ListAsync<(long, string, string)>("SELECT id, reason, after_json FROM audit_log WHERE action = 'stripe_event.replay' AND target = @eventId ORDER BY id", new { eventId });

    [Fact]
    public async Task Paging_IsNewestFirstByCursor_AndAnEventArrivingBetweenPages_NeitherRepeatsNorSkips()
    {
        var type = "test.paging." + Guid.NewGuid().ToString("N")[..8];
        var start = DateTime.UtcNow.AddMinutes(-30);
        var seeded = new List<string>();
        for (var i = 0; i < 7; i++)
            // Two pairs share their receipt time: the id orders them.
            seeded.Add(await SeedAsync(Event(type, new JsonObject { ["id"] = $"obj_{i}", ["object"] = "thing" }), "applied", start.AddSeconds(i / 2 * 10 + (i == 6 ? 5 : 0))));
        var expected = (await app.ListAsync<string>("SELECT id FROM stripe_events WHERE type = @type ORDER BY received_at DESC, id DESC", new { type })).ToList();
        expected.Count.ShouldBe(7);

        var api = await AdminKeyClientAsync();
        var first = await JsonAsync(await api.GetAsync($"/api/v1/admin/events?type={type}&limit=3"));
        Ids(first).ShouldBe(expected.Take(3));
        first.GetProperty("has_more").GetBoolean().ShouldBeTrue();

        // A new event arrives, newer than everything shown: the next pages go on from where the first stopped.
        var arrived = await SeedAsync(Event(type, new JsonObject { ["id"] = "obj_new", ["object"] = "thing" }), "applied");
        var second = await JsonAsync(await api.GetAsync($"/api/v1/admin/events?type={type}&limit=3&starting_after={Ids(first)[^1]}"));
        var third = await JsonAsync(await api.GetAsync($"/api/v1/admin/events?type={type}&limit=3&starting_after={Ids(second)[^1]}"));
        third.GetProperty("has_more").GetBoolean().ShouldBeFalse();
        Ids(first).Concat(Ids(second)).Concat(Ids(third)).ShouldBe(expected);

        var fresh = await JsonAsync(await api.GetAsync($"/api/v1/admin/events?type={type}&limit=3"));
        Ids(fresh)[0].ShouldBe(arrived);

        (await JsonAsync(await api.GetAsync("/api/v1/admin/events?starting_after=evt_nope"), HttpStatusCode.BadRequest)).GetProperty("code").GetString().ShouldBe("resource_missing");
        (await JsonAsync(await api.GetAsync("/api/v1/admin/events?failed=yes"), HttpStatusCode.BadRequest)).GetProperty("code").GetString().ShouldBe("validation_failed");
        (await JsonAsync(await api.GetAsync("/api/v1/admin/events?limit=0"), HttpStatusCode.BadRequest)).GetProperty("code").GetString().ShouldBe("validation_failed");
        (await JsonAsync(await api.GetAsync("/api/v1/admin/events?sort=asc"), HttpStatusCode.BadRequest)).GetProperty("code").GetString().ShouldBe("parameter_unknown");
    }

    [Fact]
    public async Task ThePage_PagesFiftyAtATime_WithAnOlderLink()
    {
        var customer = "cus_page_" + Guid.NewGuid().ToString("N")[..10];
        var start = DateTime.UtcNow.AddHours(-2);
        for (var i = 0; i < 53; i++)
            await SeedAsync(Event("invoice.paid", new JsonObject { ["id"] = $"in_{i}_{customer}", ["object"] = "invoice", ["customer"] = customer }), "applied", start.AddSeconds(i));
        var (_, admin) = await app.SignedInUserAsync(admin: true);

        var page = await admin.GetStringAsync($"/admin/billing/events?customer={customer}");
        Regex.Matches(page, "data-event-id=").Count.ShouldBe(StripeEvents.PageSize);
        var older = Regex.Match(page, "data-testid=\"events-next\" href=\"([^\"]+)\"");
        older.Success.ShouldBeTrue();
        var next = await admin.GetStringAsync(WebUtility.HtmlDecode(older.Groups[1].Value));
        Regex.Matches(next, "data-event-id=").Count.ShouldBe(3);
        next.ShouldContain($"in_0_{customer}");
        next.ShouldNotContain("data-testid=\"events-next\"");
    }

    [Fact]
    public async Task Search_ByType_Object_CustomerIdEmailOrUserId_AndFailed()
    {
        var user = await app.CreateUserAsync($"search-{Guid.NewGuid():N}@example.com");
        var customer = "cus_search_" + Guid.NewGuid().ToString("N")[..10];
        await app.ExecuteAsync("INSERT INTO billing_customers (user_id, stripe_customer_id, updated_at) VALUES (@userId, @customer, '2026-01-01 00:00:00')",
            new { userId = user.Id, customer });
        var subscription = "sub_search_" + Guid.NewGuid().ToString("N")[..10];
        var created = await SeedAsync(Event("customer.subscription.created", new JsonObject { ["id"] = subscription, ["object"] = "subscription", ["customer"] = customer }), "applied");
        var updated = await SeedAsync(Event("customer.subscription.updated", new JsonObject { ["id"] = subscription, ["object"] = "subscription", ["customer"] = customer }), "failed");
        var customerUpdated = await SeedAsync(Event("customer.updated", new JsonObject { ["id"] = customer, ["object"] = "customer" }), "applied");
        // A detached card no longer names its customer: the previous attributes do.
        var detached = JsonNode.Parse(Event("payment_method.detached", new JsonObject { ["id"] = "pm_" + Guid.NewGuid().ToString("N")[..10], ["object"] = "payment_method", ["customer"] = null }))!;
        detached["data"]!["previous_attributes"] = new JsonObject { ["customer"] = customer };
        var detachedId = await SeedAsync(detached.ToJsonString(), "applied");
        var someoneElse = await SeedAsync(Event("customer.subscription.updated", new JsonObject { ["id"] = "sub_other", ["object"] = "subscription", ["customer"] = "cus_other" }), "failed");

        var api = await AdminKeyClientAsync();
        var mine = new[] { detachedId, customerUpdated, updated, created };
        foreach (var query in new[] { customer, user.Email!, user.Email!.ToUpperInvariant(), user.Id })
        {
            var found = await JsonAsync(await api.GetAsync($"/api/v1/admin/events?customer={Uri.EscapeDataString(query)}&limit=100"));
            string.Join(",", Ids(found)).ShouldBe(string.Join(",", mine), query);
            found.GetProperty("data")[0].GetProperty("userId").GetString().ShouldBe(user.Id);
        }
        Ids(await JsonAsync(await api.GetAsync($"/api/v1/admin/events?customer={customer}&failed=true"))).ShouldBe([updated]);
        Ids(await JsonAsync(await api.GetAsync($"/api/v1/admin/events?object={subscription}"))).ShouldBe([updated, created]);
        Ids(await JsonAsync(await api.GetAsync($"/api/v1/admin/events?object={subscription}&type=customer.subscription.created"))).ShouldBe([created]);
        var failed = Ids(await JsonAsync(await api.GetAsync("/api/v1/admin/events?failed=true&limit=100")));
        failed.ShouldContain(updated);
        failed.ShouldContain(someoneElse);
        failed.ShouldNotContain(created);
        Ids(await JsonAsync(await api.GetAsync("/api/v1/admin/events?customer=nobody@example.com"))).ShouldBeEmpty();

        var (_, admin) = await app.SignedInUserAsync(admin: true);
        var page = await admin.GetStringAsync($"/admin/billing/events?customer={Uri.EscapeDataString(user.Email!)}&failed=true");
        page.ShouldContain($"data-event-id=\"{updated}\"");
        page.ShouldNotContain($"data-event-id=\"{created}\"");
        page.ShouldNotContain($"data-event-id=\"{someoneElse}\"");
        page.ShouldContain($"href=\"/admin/customers/{user.Id}\"");
        var byType = await admin.GetStringAsync($"/admin/billing/events?type=customer.updated&object={customer}");
        byType.ShouldContain($"data-event-id=\"{customerUpdated}\"");
        byType.ShouldNotContain($"data-event-id=\"{created}\"");
        (await admin.GetStringAsync("/admin/billing/events?customer=nobody@example.com")).ShouldContain("No customer with a Stripe customer id matches");
        // The older parameter still works: ?status=failed is ?failed=true.
        (await admin.GetStringAsync($"/admin/billing/events?status=failed&object={subscription}")).ShouldContain($"data-event-id=\"{updated}\"");
    }

    [Fact]
    public async Task EveryFilter_IsOneIndexSeek_NoScanNoSort()
    {
        var filters = new StripeEventFilter[]
        {
            new(), new(Status: "failed"), new(Type: "invoice.paid"), new(ObjectId: "sub_x"), new(CustomerId: "cus_x"),
            new(CustomerId: "cus_x", Status: "failed"), new(Type: "invoice.paid", Status: "failed"), new(ObjectId: "sub_x", Type: "invoice.paid", CustomerId: "cus_x", Status: "failed"),
        };
        await using var connection = await app.Db.OpenAsync();
        foreach (var filter in filters)
        {
            var (sql, args) = StripeEventLog.PageQuery(filter, 51, "2026-12-01 00:00:00.0000000", "evt_x");
            var plan = string.Join("\n", (await connection.QueryAsync<(long, long, long, string Detail)>("EXPLAIN QUERY PLAN " + sql, args)).Select(r => r.Detail));
            plan.ShouldNotContain("SCAN", customMessage: $"{filter}: {plan}");
            plan.ShouldNotContain("TEMP B-TREE", customMessage: $"{filter}: {plan}");
            plan.ShouldContain("SEARCH e USING INDEX ix_stripe_events_", Case.Sensitive, $"{filter}: {plan}");
        }
    }

    [Fact]
    public async Task ThePayload_IsShownIndented_AndHtmlEscaped()
    {
        var payload = Event("checkout.session.completed", PaidBundleSession("cus_xss", null, note: "<script>alert('owned')</script> & <b>bold</b>"));
        var id = await SeedAsync(payload, "applied");
        var (_, admin) = await app.SignedInUserAsync(admin: true);
        var page = await admin.GetStringAsync($"/admin/billing/events/{id}");
        page.ShouldContain("&lt;script&gt;alert(");
        page.ShouldContain("&lt;b&gt;bold&lt;/b&gt;");
        page.ShouldNotContain("<script>alert(");
        page.ShouldNotContain("<b>bold</b>");
        // Indented, as text (the browser shows the encoded line breaks and quotes as they are).
        WebUtility.HtmlDecode(page).ShouldContain("\n  \"type\": \"checkout.session.completed\"");
        (await admin.GetAsync("/admin/billing/events/evt_unknown_" + Guid.NewGuid().ToString("N"))).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AFailedEvent_ReplayedByADoubleSubmit_GrantsOnce_AuditsOnce_AndSaysWhatItChanged()
    {
        var user = await app.CreateUserAsync($"replay-{Guid.NewGuid():N}@example.com");
        var id = await SeedAsync(Event("checkout.session.completed", PaidBundleSession("cus_replay_" + Guid.NewGuid().ToString("N")[..8], user.Id)), "failed",
            lastError: "database is locked");
        var (_, admin) = await app.SignedInUserAsync(admin: true);

        var list = await admin.GetStringAsync($"/admin/billing/events?failed=true&object=");
        list.ShouldContain($"data-testid=\"replay-{id}\"");
        var page = await admin.GetStringAsync($"/admin/billing/events/{id}");
        page.ShouldContain("data-testid=\"confirm-replay\"");
        var form = ReplayForm(page);

        // A missing reason runs nothing.
        var noReason = await PostReplayAsync(admin, id, new Dictionary<string, string>(form) { ["Replay.Reason"] = " " });
        noReason.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await noReason.Content.ReadAsStringAsync()).ShouldContain("Say why");
        (await app.PrepaidAsync(user.Id)).ShouldBe(0);

        // The same form sent twice at once (a double click).
        var both = await Task.WhenAll(PostReplayAsync(admin, id, form), PostReplayAsync(admin, id, form));
        both.ShouldAllBe(r => r.StatusCode == HttpStatusCode.Redirect);

        (await app.PrepaidAsync(user.Id)).ShouldBe(10);
        (await app.QueryAsync<string>("SELECT status FROM stripe_events WHERE id = @id", new { id })).ShouldBe("applied");
        (await app.QueryAsync<long>("SELECT attempts FROM stripe_events WHERE id = @id", new { id })).ShouldBe(10);
        var audit = await ReplayAuditAsync(id);
        audit.Count.ShouldBe(1);
        audit[0].Reason.ShouldBe("customer says the credits never came");
        audit[0].AfterJson.ShouldContain("granted 10 prepaid credits");
        (await app.QueryAsync<long>("SELECT count(*) FROM stripe_event_replays WHERE event_id = @id", new { id })).ShouldBe(1);

        // Sent a third time, after both: nothing runs again, and the page says what the replay did.
        var again = await PostReplayAsync(admin, id, form);
        again.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var shown = WebUtility.HtmlDecode(await admin.GetStringAsync(again.Headers.Location!.ToString()));
        shown.ShouldContain("This replay was already done; nothing ran again. It said: Applied: granted 10 prepaid credits (");
        (await ReplayAuditAsync(id)).Count.ShouldBe(1);
        (await app.PrepaidAsync(user.Id)).ShouldBe(10);
        // Now applied: no replay offered any more.
        (await admin.GetStringAsync($"/admin/billing/events/{id}")).ShouldNotContain("data-testid=\"confirm-replay\"");
    }

    [Fact]
    public async Task Replay_SaysNothingChanged_WhenItsEffectWasAlreadyApplied_AndFailedAgain_WithTheError()
    {
        var user = await app.CreateUserAsync($"honest-{Guid.NewGuid():N}@example.com");
        var session = PaidBundleSession("cus_honest_" + Guid.NewGuid().ToString("N")[..8], user.Id);
        await app.DeliverSignedAsync(Event("checkout.session.completed", session));
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "first delivery granted");
        // Another event about the same, already fulfilled, session, stored as failed.
        var duplicate = await SeedAsync(Event("checkout.session.async_payment_succeeded", session.DeepClone().AsObject()), "failed");
        var (_, admin) = await app.SignedInUserAsync(admin: true);

        var replay = await PostReplayAsync(admin, duplicate, ReplayForm(await admin.GetStringAsync($"/admin/billing/events/{duplicate}")));
        replay.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var said = WebUtility.HtmlDecode(await admin.GetStringAsync(replay.Headers.Location!.ToString()));
        said.ShouldContain($"Nothing changed: already applied (the 10 credits of checkout session {session["id"]} were already granted");
        (await app.PrepaidAsync(user.Id)).ShouldBe(10);

        // Nobody has this customer and the session names no user: it fails again, and says why.
        var orphan = await SeedAsync(Event("checkout.session.completed", PaidBundleSession("cus_orphan_" + Guid.NewGuid().ToString("N")[..8], null)), "failed");
        var failed = await PostReplayAsync(admin, orphan, ReplayForm(await admin.GetStringAsync($"/admin/billing/events/{orphan}")));
        failed.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var failedPage = WebUtility.HtmlDecode(await admin.GetStringAsync(failed.Headers.Location!.ToString()));
        failedPage.ShouldContain("Failed again: No user for checkout session");
        (await app.QueryAsync<string>("SELECT status FROM stripe_events WHERE id = @orphan", new { orphan })).ShouldBe("failed");
        (await ReplayAuditAsync(orphan)).Count.ShouldBe(1);
        // Still failed, so it can be replayed again with a new form.
        failedPage.ShouldContain("data-testid=\"confirm-replay\"");
    }

    [Fact]
    public async Task ASucceededEvent_OffersNoReplay_AndAForgedReplayIsRefused_ChangingNothing()
    {
        var user = await app.CreateUserAsync($"forged-{Guid.NewGuid():N}@example.com");
        var forgedCustomer = "cus_forged_" + Guid.NewGuid().ToString("N")[..8];
        var applied = await SeedAsync(Event("checkout.session.completed", PaidBundleSession(forgedCustomer, user.Id)), "applied");
        var failed = await SeedAsync(Event("customer.updated", new JsonObject { ["id"] = forgedCustomer, ["object"] = "customer" }), "failed");
        var (_, admin) = await app.SignedInUserAsync(admin: true);

        var appliedPage = await admin.GetStringAsync($"/admin/billing/events/{applied}");
        appliedPage.ShouldNotContain("data-testid=\"confirm-replay\"");
        var list = await admin.GetStringAsync($"/admin/billing/events?customer={forgedCustomer}");
        list.ShouldContain($"data-event-id=\"{applied}\"");
        list.ShouldNotContain($"data-testid=\"replay-{applied}\"");
        list.ShouldContain($"data-testid=\"replay-{failed}\"");

        // A replay form of a failed event, posted to the succeeded one; and a form made up from nothing.
        var form = ReplayForm(await admin.GetStringAsync($"/admin/billing/events/{failed}"));
        var forged = await PostReplayAsync(admin, applied, form);
        forged.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await forged.Content.ReadAsStringAsync()).ShouldContain("only failed events can be replayed");
        var madeUp = await PostReplayAsync(admin, applied, new Dictionary<string, string>(form) { ["Replay.Token"] = Guid.NewGuid().ToString("N") });
        madeUp.StatusCode.ShouldBe(HttpStatusCode.Conflict);

        (await app.PrepaidAsync(user.Id)).ShouldBe(0);
        (await app.QueryAsync<long>("SELECT attempts FROM stripe_events WHERE id = @applied", new { applied })).ShouldBe(9);
        (await ReplayAuditAsync(applied)).ShouldBeEmpty();
        (await app.QueryAsync<long>("SELECT count(*) FROM stripe_event_replays WHERE event_id = @applied", new { applied })).ShouldBe(0);

        // The form of the failed event still works for it (it was not used up by the refusals).
        (await PostReplayAsync(admin, failed, form)).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await ReplayAuditAsync(failed)).Count.ShouldBe(1);
    }

    [Fact]
    public async Task NonAdmins_Get403_OnThePages_TheReplay_AndTheApi()
    {
        var id = await SeedAsync(Event("customer.updated", new JsonObject { ["id"] = "cus_403_" + Guid.NewGuid().ToString("N")[..8], ["object"] = "customer" }), "failed");
        var (customer, cookie) = await app.SignedInUserAsync();
        (await cookie.GetAsync("/admin/billing/events")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await cookie.GetAsync($"/admin/billing/events/{id}")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        var own = await cookie.GetStringAsync("/dashboard");
        var post = await cookie.PostAsync($"/admin/billing/events/{id}?handler=Replay", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = TestApp.AntiforgeryToken(own), ["Replay.Token"] = Guid.NewGuid().ToString("N"), ["Replay.Reason"] = "x",
        }));
        post.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await cookie.GetAsync("/api/v1/admin/events")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        var created = await app.Services.GetRequiredService<ApiKeyStore>().CreateAsync(customer.Id, "not admin", [ApiKeyScopes.Read], CancellationToken.None);
        using var key = app.NewClient();
        key.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", created!.Value.Key);
        (await JsonAsync(await key.GetAsync("/api/v1/admin/events"), HttpStatusCode.Forbidden)).GetProperty("code").GetString().ShouldBe("insufficient_scope");
        (await app.QueryAsync<string>("SELECT status FROM stripe_events WHERE id = @id", new { id })).ShouldBe("failed");
        (await ReplayAuditAsync(id)).ShouldBeEmpty();
    }
}
