using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Admin;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>
/// The customer list and page: search by each field, filters, cursor paging while accounts sign up, the customer's balances,
/// card, keys, ledger and merged timeline, and the page's credit adjustment (confirmation, double submit, refusals).
/// </summary>
public sealed class CustomerTests(AdminTestApp app) : IClassFixture<AdminTestApp>
{
    private async Task ExecuteAsync(string sql, object args)
    {
        await using var connection = await app.Db.OpenAsync();
        await connection.ExecuteAsync(sql, args);
    }

    private static async Task<List<JsonElement>> ListAsync(HttpClient key, string query)
    {
        var list = await AdminTestApp.JsonAsync(await key.GetAsync($"/api/v1/admin/customers?{query}"), HttpStatusCode.OK);
        list.GetProperty("object").GetString().ShouldBe("list");
        return list.GetProperty("data").EnumerateArray().ToList();
    }

    private static IEnumerable<string?> Ids(IEnumerable<JsonElement> rows) => rows.Select(r => r.GetProperty("id").GetString());

    [Fact]
    public async Task Search_FindsByEmailPrefixAnyCase_ByStripeCustomerId_AndByUserId_AndNothingElse()
    {
        var tag = Guid.NewGuid().ToString("N")[..10];
        var ann = await app.CreateUserAsync($"ann.{tag}@example.com");
        var bob = await app.CreateUserAsync($"bob.{tag}@example.org");
        var cus = $"cus_{tag}X";
        await ExecuteAsync("INSERT INTO billing_customers (user_id, stripe_customer_id, updated_at) VALUES (@Id, @cus, '2026-01-01 00:00:00.0000000')", new { bob.Id, cus });
        var (_, key) = await app.AdminKeyAsync();

        Ids(await ListAsync(key, $"query=ANN.{tag.ToUpperInvariant()}")).ShouldBe([ann.Id]);
        Ids(await ListAsync(key, $"query=ann.{tag}@example.com")).ShouldBe([ann.Id]);
        Ids(await ListAsync(key, $"query=bob.{tag}")).ShouldBe([bob.Id]);
        var byStripe = await ListAsync(key, $"query={cus}");
        Ids(byStripe).ShouldBe([bob.Id]);
        byStripe[0].GetProperty("stripeCustomerId").GetString().ShouldBe(cus);
        Ids(await ListAsync(key, $"query=cus_{tag}")).ShouldBe([bob.Id]);
        Ids(await ListAsync(key, $"query={ann.Id}")).ShouldBe([ann.Id]);
        (await ListAsync(key, $"query=zz{tag}")).ShouldBeEmpty();
        // A name is searched as a prefix, not a substring: the middle of an address finds nothing.
        (await ListAsync(key, $"query={tag}")).ShouldBeEmpty();

        var (_, browser) = await app.SignedInUserAsync(admin: true);
        var page = await browser.GetStringAsync($"/admin/customers?q=ann.{tag}");
        page.ShouldContain($"data-customer-id=\"{ann.Id}\"");
        page.ShouldNotContain($"data-customer-id=\"{bob.Id}\"");
        page.ShouldContain($"href=\"/admin/customers/{ann.Id}\"");
    }

    [Fact]
    public async Task Filters_ByPlanAndStatus()
    {
        var tag = Guid.NewGuid().ToString("N")[..10];
        var (_, key) = await app.AdminKeyAsync();
        var trial = await app.CreateUserAsync($"plan-trial.{tag}@example.com");
        var prepaid = await app.CreateUserAsync($"plan-prepaid.{tag}@example.com");
        var subscriber = await app.CreateUserAsync($"plan-sub.{tag}@example.com");
        var card = await app.CreateUserAsync($"plan-card.{tag}@example.com");
        var none = await app.CreateUserAsync($"plan-none.{tag}@example.com");
        var unconfirmed = await app.CreateUserAsync($"plan-unconfirmed.{tag}@example.com", confirmed: false);
        var locked = await app.CreateUserAsync($"plan-locked.{tag}@example.com");

        await app.Services.GetRequiredService<GenSaaS.Web.Features.Credits.CreditLedger>().EnsureAccountAsync(trial.Id);
        (await AdminTestApp.AdjustAsync(key, prepaid.Id, new { amount = 10, reason = "prepaid" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        await ExecuteAsync("""
            INSERT INTO subscriptions (stripe_subscription_id, user_id, plan_key, status, current_period_start, current_period_end, updated_at)
            VALUES (@sub, @Id, 'subscription_unlimited', 'active', '2026-01-01 00:00:00.0000000', '2099-01-01 00:00:00.0000000', '2026-01-01 00:00:00.0000000')
            """, new { sub = $"sub_{tag}", subscriber.Id });
        await ExecuteAsync("""
            INSERT INTO billing_customers (user_id, stripe_customer_id, default_payment_method, card_brand, card_last4, pay_per_use_card, updated_at)
            VALUES (@Id, @cus, 'pm_1', 'visa', '4242', 1, '2026-01-01 00:00:00.0000000')
            """, new { card.Id, cus = $"cus_card{tag}" });
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
            (await users.SetLockoutEndDateAsync((await users.FindByIdAsync(locked.Id))!, DateTimeOffset.UtcNow.AddHours(1))).Succeeded.ShouldBeTrue();
        }

        async Task<IEnumerable<string?>> Find(string filter) => Ids(await ListAsync(key, $"query=plan-&{filter}&limit=100")).Where(id =>
            new[] { trial.Id, prepaid.Id, subscriber.Id, card.Id, none.Id, unconfirmed.Id, locked.Id }.Contains(id));

        (await Find("plan=trial")).ShouldBe([trial.Id]);
        (await Find("plan=prepaid")).ShouldBe([prepaid.Id]);
        (await Find("plan=subscription")).ShouldBe([subscriber.Id]);
        (await Find("plan=pay_per_use")).ShouldBe([card.Id]);
        (await Find("plan=none")).ShouldBe([locked.Id, unconfirmed.Id, none.Id]);
        (await Find("status=unconfirmed")).ShouldBe([unconfirmed.Id]);
        (await Find("status=locked")).ShouldBe([locked.Id]);
        (await Find("status=active")).Count().ShouldBe(5);
        (await Find("plan=none&status=active")).ShouldBe([none.Id]);

        foreach (var (query, code) in new[] { ("plan=gold", "validation_failed"), ("status=banned", "validation_failed"), ("page=2", "parameter_unknown"),
                     ("starting_after=nobody", "resource_missing"), ("limit=101", "validation_failed") })
            (await AdminTestApp.JsonAsync(await key.GetAsync($"/api/v1/admin/customers?{query}"), HttpStatusCode.BadRequest))
                .GetProperty("code").GetString().ShouldBe(code, query);
    }

    [Fact]
    public async Task Filters_WithoutASearch_FollowEachChangeOfPlanAndStatus_AndPageByCursor()
    {
        var tag = Guid.NewGuid().ToString("N")[..10];
        var (_, key) = await app.AdminKeyAsync();
        var subscriber = await app.CreateUserAsync($"f-sub1.{tag}@example.com");
        var subscriber2 = await app.CreateUserAsync($"f-sub2.{tag}@example.com");
        var card = await app.CreateUserAsync($"f-card.{tag}@example.com");
        var prepaid = await app.CreateUserAsync($"f-prepaid.{tag}@example.com");
        var unconfirmed = await app.CreateUserAsync($"f-unconfirmed.{tag}@example.com", confirmed: false);
        var locked = await app.CreateUserAsync($"f-locked.{tag}@example.com");
        var ours = new[] { subscriber.Id, subscriber2.Id, card.Id, prepaid.Id, unconfirmed.Id, locked.Id };
        foreach (var (user, sub) in new[] { (subscriber, $"sub_a{tag}"), (subscriber2, $"sub_b{tag}") })
            await ExecuteAsync("""
                INSERT INTO subscriptions (stripe_subscription_id, user_id, plan_key, status, current_period_start, current_period_end, updated_at)
                VALUES (@sub, @Id, 'subscription_unlimited', 'active', '2026-01-01 00:00:00.0000000', '2099-01-01 00:00:00.0000000', '2026-01-01 00:00:00.0000000')
                """, new { sub, user.Id });
        await ExecuteAsync("""
            INSERT INTO billing_customers (user_id, stripe_customer_id, default_payment_method, card_brand, card_last4, pay_per_use_card, updated_at)
            VALUES (@Id, @cus, 'pm_1', 'visa', '4242', 1, '2026-01-01 00:00:00.0000000')
            """, new { card.Id, cus = $"cus_f{tag}" });
        (await AdminTestApp.AdjustAsync(key, prepaid.Id, new { amount = 3, reason = "prepaid" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
            (await users.SetLockoutEndDateAsync((await users.FindByIdAsync(locked.Id))!, DateTimeOffset.UtcNow.AddHours(1))).Succeeded.ShouldBeTrue();
        }

        // No search: the newest 100 accounts are this test's and the class's others; only ours are looked at.
        async Task<List<string?>> Find(string filter) => Ids(await ListAsync(key, $"{filter}&limit=100")).Where(id => ours.Contains(id)).ToList();
        (await Find("plan=subscription")).ShouldBe([subscriber2.Id, subscriber.Id]);
        (await Find("plan=pay_per_use")).ShouldBe([card.Id]);
        (await Find("plan=prepaid")).ShouldBe([prepaid.Id]);
        (await Find("plan=none")).ShouldBe([locked.Id, unconfirmed.Id]);
        (await Find("status=locked")).ShouldBe([locked.Id]);
        (await Find("status=unconfirmed")).ShouldBe([unconfirmed.Id]);
        (await Find("status=active")).ShouldBe([prepaid.Id, card.Id, subscriber2.Id, subscriber.Id]);
        (await Find("plan=subscription&status=active")).ShouldBe([subscriber2.Id, subscriber.Id]);
        (await Find("plan=none&status=locked")).ShouldBe([locked.Id]);
        (await Find("plan=prepaid&status=locked")).ShouldBeEmpty();

        // A filtered list pages by cursor one at a time, without repeats or gaps.
        var seen = new List<string?>();
        string? after = null;
        do
        {
            var list = await AdminTestApp.JsonAsync(await key.GetAsync("/api/v1/admin/customers?plan=subscription&limit=1" + (after is null ? "" : $"&starting_after={after}")), HttpStatusCode.OK);
            var data = list.GetProperty("data").EnumerateArray().ToList();
            seen.AddRange(Ids(data));
            after = list.GetProperty("has_more").GetBoolean() ? data[^1].GetProperty("id").GetString() : null;
        } while (after is not null);
        seen.Distinct().Count().ShouldBe(seen.Count);
        seen.Where(id => ours.Contains(id)).ShouldBe([subscriber2.Id, subscriber.Id]);

        // Each change moves the account to its new plan or status at once.
        await ExecuteAsync("UPDATE subscriptions SET status = 'canceled' WHERE stripe_subscription_id = @sub", new { sub = $"sub_a{tag}" });
        await ExecuteAsync("UPDATE billing_customers SET default_payment_method = NULL WHERE user_id = @Id", new { card.Id });
        (await AdminTestApp.AdjustAsync(key, prepaid.Id, new { amount = -3, reason = "taken back" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        await ExecuteAsync("UPDATE AspNetUsers SET EmailConfirmed = 1 WHERE Id = @Id", new { unconfirmed.Id });
        await ExecuteAsync("UPDATE AspNetUsers SET LockoutEnd = '2020-01-01 00:00:00+00:00' WHERE Id = @Id", new { locked.Id });
        (await Find("plan=subscription")).ShouldBe([subscriber2.Id]);
        (await Find("plan=pay_per_use")).ShouldBeEmpty();
        (await Find("plan=prepaid")).ShouldBeEmpty();
        (await Find("plan=none")).Where(id => id != prepaid.Id).ShouldBe([locked.Id, unconfirmed.Id, card.Id, subscriber.Id]);
        // Without prepaid credits the account is on whatever pays next (trial credits, if taking back left any, else none).
        var plan = (await AdminTestApp.JsonAsync(await key.GetAsync($"/api/v1/admin/customers/{prepaid.Id}"), HttpStatusCode.OK)).GetProperty("plan").GetString();
        plan.ShouldBeOneOf("trial", "none");
        (await Find($"plan={plan}")).ShouldContain(prepaid.Id);
        (await Find("status=locked")).ShouldBeEmpty();
        (await Find("status=unconfirmed")).ShouldBeEmpty();
        (await Find("status=active")).Count.ShouldBe(6);
        (await Find("plan=none&status=active")).Where(id => id != prepaid.Id).Count().ShouldBe(4);
    }

    [Fact]
    public async Task Timeline_ShowsTheEventsOfEveryStripeObject_StoredBeforeOrAfterTheObjectIsRecorded_AndNoOneElses()
    {
        var (_, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"events-{Guid.NewGuid():N}@example.com");
        var other = await app.CreateUserAsync($"events-other-{Guid.NewGuid():N}@example.com");
        var tag = Guid.NewGuid().ToString("N")[..12];
        var at = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss.fffffff");
        async Task EventAsync(string id, string objectId) => await ExecuteAsync(
            "INSERT INTO stripe_events (id, type, object_id, created, payload, status, received_at) VALUES (@id, 'x.updated', @objectId, 1, '{}', 'applied', @at)",
            new { id, objectId, at });
        // Events that arrive before the app records their object: the payment intent, its charge, a subscription, a session.
        await EventAsync($"evt_pi{tag}", $"pi_{tag}");
        await EventAsync($"evt_ch{tag}", $"ch_{tag}");
        await EventAsync($"evt_sub{tag}", $"sub_{tag}");
        await EventAsync($"evt_cs{tag}", $"cs_{tag}");
        await EventAsync($"evt_other{tag}", $"cus_other{tag}");
        await ExecuteAsync("""
            INSERT INTO payments (user_id, kind, stripe_id, payment_intent_id, amount_minor, currency, status, credits, created_at, updated_at)
            VALUES (@Id, 'bundle', @session, @pi, 400, 'usd', 'paid', 10, @at, @at);
            UPDATE payments SET charge_id = @charge WHERE payment_intent_id = @pi;
            INSERT INTO subscriptions (stripe_subscription_id, user_id, plan_key, status, updated_at) VALUES (@sub, @Id, 'subscription_unlimited', 'active', @at);
            INSERT INTO checkout_sessions (id, user_id, mode, plan_key, created_at, updated_at) VALUES (@session, @Id, 'payment', 'bundle_10', @at, @at);
            INSERT INTO billing_customers (user_id, stripe_customer_id, updated_at) VALUES (@otherId, @otherCus, @at);
            """, new { customer.Id, session = $"cs_{tag}", pi = $"pi_{tag}", charge = $"ch_{tag}", sub = $"sub_{tag}", at, otherId = other.Id, otherCus = $"cus_other{tag}" });
        // And events that arrive after: about the customer, and about the session again.
        await ExecuteAsync("INSERT INTO billing_customers (user_id, stripe_customer_id, updated_at) VALUES (@Id, @cus, @at)", new { customer.Id, cus = $"cus_{tag}", at });
        await EventAsync($"evt_cus{tag}", $"cus_{tag}");
        await EventAsync($"evt_cs2{tag}", $"cs_{tag}");

        async Task<List<string?>> EventsOf(string userId) =>
            (await AdminTestApp.JsonAsync(await key.GetAsync($"/api/v1/admin/customers/{userId}/timeline?limit=100"), HttpStatusCode.OK))
            .GetProperty("data").EnumerateArray().Where(i => i.GetProperty("kind").GetString() == "webhook_event").Select(i => i.GetProperty("id").GetString()).ToList();
        (await EventsOf(customer.Id)).ShouldBe([$"evt_pi{tag}", $"evt_ch{tag}", $"evt_sub{tag}", $"evt_cs{tag}", $"evt_cus{tag}", $"evt_cs2{tag}"], ignoreOrder: true);
        (await EventsOf(other.Id)).ShouldBe([$"evt_other{tag}"]);
    }

    [Fact]
    public async Task RecordingAPaymentAgain_AfterItsEventsAreLinked_Succeeds_AndLinksEachEventOnce()
    {
        // A webhook applied again (a replay, Stripe's retry) records its payment again through the payments upsert; the
        // triggers that link the payment's events to the customer must not turn that into a UNIQUE error.
        var customer = await app.CreateUserAsync($"again-{Guid.NewGuid():N}@example.com");
        var tag = Guid.NewGuid().ToString("N")[..12];
        var at = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss.fffffff");
        await ExecuteAsync(
            "INSERT INTO stripe_events (id, type, object_id, created, payload, status, received_at) VALUES (@id, 'payment_intent.succeeded', @pi, 1, '{}', 'applied', @at)",
            new { id = $"evt_{tag}", pi = $"pi_{tag}", at });
        var payments = app.Services.GetRequiredService<GenSaaS.Web.Features.Billing.Payments>();
        var bundle = GenSaaS.Web.Features.Billing.Payment.PaidBundle(customer.Id, $"cs_{tag}", $"pi_{tag}", "bundle_10", 400, "usd", 10, null);
        await payments.RecordAsync(bundle, CancellationToken.None);
        await payments.RecordAsync(bundle, CancellationToken.None);

        (await app.ScalarAsync("SELECT count(*) FROM payments WHERE stripe_id = @id", new { id = $"cs_{tag}" })).ShouldBe(1);
        (await app.ScalarAsync("SELECT count(*) FROM customer_events WHERE user_id = @Id AND event_id = @evt", new { customer.Id, evt = $"evt_{tag}" })).ShouldBe(1);
    }

    [Fact]
    public async Task List_PagesByCursor_NewestFirst_WithoutRepeatsOrGaps_WhileAccountsSignUp()
    {
        var tag = Guid.NewGuid().ToString("N")[..10];
        var (_, key) = await app.AdminKeyAsync();
        var made = new List<string>();
        for (var i = 0; i < 7; i++)
            made.Add((await app.CreateUserAsync($"pg{tag}-{i}@example.com")).Id);

        var seen = new List<string?>();
        string? after = null;
        var pages = 0;
        do
        {
            var list = await AdminTestApp.JsonAsync(await key.GetAsync($"/api/v1/admin/customers?query=pg{tag}&limit=3" + (after is null ? "" : $"&starting_after={after}")), HttpStatusCode.OK);
            var data = list.GetProperty("data").EnumerateArray().ToList();
            seen.AddRange(Ids(data));
            after = list.GetProperty("has_more").GetBoolean() ? data[^1].GetProperty("id").GetString() : null;
            // Someone signs up between pages: newer than every cursor, so no page shifts.
            if (pages++ == 0)
                await app.CreateUserAsync($"pg{tag}-late@example.com");
        } while (after is not null);
        seen.ShouldBe(Enumerable.Reverse(made).ToList<string?>());
        pages.ShouldBe(3);

        // The same through the whole list, unsearched.
        var first = await ListAsync(key, "limit=2");
        first.Count.ShouldBe(2);
    }

    [Fact]
    public async Task CustomerApi_ShowsBalancesCardKeysLedger_AndATimelineMergedNewestFirst_PagedWithoutRepeats()
    {
        var (admin, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"timeline-{Guid.NewGuid():N}@example.com");
        var cus = $"cus_{Guid.NewGuid():N}";
        await ExecuteAsync("""
            INSERT INTO billing_customers (user_id, stripe_customer_id, default_payment_method, card_brand, card_last4, card_exp_month, card_exp_year, pay_per_use_card, updated_at)
            VALUES (@Id, @cus, 'pm_1', 'visa', '4242', 12, 2030, 0, '2026-01-01 00:00:00.0000000')
            """, new { customer.Id, cus });
        await app.KeyClientAsync(customer.Id, ApiKeyScopes.Generate, ApiKeyScopes.Read);
        var customerKey = await app.KeyClientAsync(customer.Id, ApiKeyScopes.Generate);
        (await customerKey.PostAsJsonAsync("/api/v1/generations", new { prompt = "a lighthouse at dusk" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await AdminTestApp.AdjustAsync(key, customer.Id, new { amount = 4, reason = "birthday" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var now = DateTime.UtcNow;
        await ExecuteAsync("""
            INSERT INTO payments (user_id, kind, stripe_id, amount_minor, currency, status, credits, created_at, updated_at)
            VALUES (@Id, 'bundle', @session, 400, 'usd', 'paid', 10, @at, @at);
            INSERT INTO stripe_events (id, type, object_id, created, payload, status, received_at)
            VALUES (@evt, 'customer.updated', @cus, 1, '{}', 'applied', @at);
            """, new { customer.Id, session = $"cs_{Guid.NewGuid():N}", evt = $"evt_{Guid.NewGuid():N}", cus, at = now.AddMilliseconds(5).ToString("yyyy-MM-dd HH:mm:ss.fffffff") });
        // Someone else's event is not on this timeline.
        await ExecuteAsync("INSERT INTO stripe_events (id, type, object_id, created, payload, status, received_at) VALUES (@evt, 'customer.updated', 'cus_other', 1, '{}', 'applied', @at)",
            new { evt = $"evt_{Guid.NewGuid():N}", at = now.ToString("yyyy-MM-dd HH:mm:ss.fffffff") });

        var detail = await AdminTestApp.JsonAsync(await key.GetAsync($"/api/v1/admin/customers/{customer.Id}"), HttpStatusCode.OK);
        detail.GetProperty("email").GetString().ShouldBe(customer.Email);
        detail.GetProperty("trialCredits").GetInt64().ShouldBe(2);
        detail.GetProperty("prepaidCredits").GetInt64().ShouldBe(4);
        detail.GetProperty("plan").GetString().ShouldBe("prepaid");
        detail.GetProperty("stripeCustomerId").GetString().ShouldBe(cus);
        detail.GetProperty("card").GetProperty("last4").GetString().ShouldBe("4242");
        detail.GetProperty("apiKeys").GetArrayLength().ShouldBe(2);
        detail.GetProperty("recentLedger").EnumerateArray().Select(l => l.GetProperty("kind").GetString()).ShouldBe(["adjustment", "debit", "grant"]);

        var kinds = detail.GetProperty("timeline").GetProperty("data").EnumerateArray().Select(i => i.GetProperty("kind").GetString()).ToList();
        kinds.ShouldBe(["payment", "webhook_event", "admin_action", "ledger_line", "generation", "ledger_line", "ledger_line", "signup"], ignoreOrder: true);
        kinds[^1].ShouldBe("signup");
        var times = detail.GetProperty("timeline").GetProperty("data").EnumerateArray().Select(i => i.GetProperty("at").GetDateTime()).ToList();
        times.ShouldBe(times.OrderByDescending(t => t).ToList());

        // Two at a time: the same items, in the same order, none twice, whatever arrives meanwhile.
        var paged = new List<string>();
        string? cursor = null;
        do
        {
            var url = $"/api/v1/admin/customers/{customer.Id}/timeline?limit=2" + (cursor is null ? "" : $"&starting_after={Uri.EscapeDataString(cursor)}");
            var page = await AdminTestApp.JsonAsync(await key.GetAsync(url), HttpStatusCode.OK);
            paged.AddRange(page.GetProperty("data").EnumerateArray().Select(i => $"{i.GetProperty("kind").GetString()}:{i.GetProperty("id").GetString()}"));
            cursor = page.GetProperty("has_more").GetBoolean() ? page.GetProperty("next").GetString() : null;
            if (paged.Count == 2)
                (await AdminTestApp.AdjustAsync(key, customer.Id, new { amount = 1, reason = "meanwhile" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        } while (cursor is not null);
        paged.Count.ShouldBe(8);
        paged.Distinct().Count().ShouldBe(8);
        paged.Select(p => p.Split(':')[0]).ShouldBe(kinds);

        (await AdminTestApp.JsonAsync(await key.GetAsync($"/api/v1/admin/customers/{customer.Id}/timeline?starting_after=tl_garbage!"), HttpStatusCode.BadRequest))
            .GetProperty("code").GetString().ShouldBe("resource_missing");
        (await AdminTestApp.JsonAsync(await key.GetAsync("/api/v1/admin/customers/nobody"), HttpStatusCode.NotFound)).GetProperty("code").GetString().ShouldBe("not_found");
        (await AdminTestApp.JsonAsync(await key.GetAsync("/api/v1/admin/customers/nobody/timeline"), HttpStatusCode.NotFound)).GetProperty("code").GetString().ShouldBe("not_found");

        // Each read was audited with the customer as target, and none of them is an action on the customer's timeline.
        (await app.AuditAsync(customer.Id, AuditActions.ApiRead)).Count.ShouldBeGreaterThanOrEqualTo(5);
        (await app.AuditAsync(customer.Id, AuditActions.ApiRead)).ShouldAllBe(e => e.Actor == admin.Id);
    }

    /// <summary>The ids of a customer's whole timeline read through the admin API one item a page, following each page's cursor.</summary>
    private static async Task<List<string>> TimelineOneAtATimeAsync(HttpClient key, string userId)
    {
        var ids = new List<string>();
        string? cursor = null;
        do
        {
            var url = $"/api/v1/admin/customers/{userId}/timeline?limit=1" + (cursor is null ? "" : $"&starting_after={Uri.EscapeDataString(cursor)}");
            var page = await AdminTestApp.JsonAsync(await key.GetAsync(url), HttpStatusCode.OK);
            ids.AddRange(page.GetProperty("data").EnumerateArray().Select(i => i.GetProperty("id").GetString()!));
            cursor = page.GetProperty("has_more").GetBoolean() ? page.GetProperty("next").GetString() : null;
        } while (cursor is not null);
        return ids;
    }

    [Fact]
    public async Task Timeline_ShowsEachSignIn_AndEachEmailSentToTheAccount_NewestFirst_AndNoneOfAnotherAccount()
    {
        var (_, key) = await app.AdminKeyAsync();
        var email = $"signins-{Guid.NewGuid():N}@example.com";
        var customer = await app.CreateUserAsync(email);
        var other = await app.CreateUserAsync($"other-{Guid.NewGuid():N}@example.com");

        // Two sign-ins through the real form; the second one signs out again. Then a password reset mail, sent by the job.
        await app.SignInAsync(email);
        var second = await app.SignInAsync(email);
        (await TestApp.PostFormAsync(second, "/Identity/Account/Logout?returnUrl=%2F", [])).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await TestApp.PostFormAsync(app.NewClient(), "/Identity/Account/ForgotPassword", new() { ["Input.Email"] = email })).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await TestApp.PostFormAsync(app.NewClient(), "/Identity/Account/ForgotPassword", new() { ["Input.Email"] = other.Email! })).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        await app.SignInAsync(other.Email!);

        async Task<List<JsonElement>> TimelineAsync() =>
            (await AdminTestApp.JsonAsync(await key.GetAsync($"/api/v1/admin/customers/{customer.Id}/timeline?limit=100"), HttpStatusCode.OK))
                .GetProperty("data").EnumerateArray().ToList();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(await TimelineAsync()).Any(i => i.GetProperty("kind").GetString() == "email") && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        (await app.ScalarAsync("SELECT count(*) FROM email_log WHERE user_id = @id", new { id = other.Id })).ShouldBe(1);

        var all = await TimelineAsync();
        var times = all.Select(i => i.GetProperty("at").GetDateTime()).ToList();
        times.ShouldBe(times.OrderByDescending(t => t).ToList());
        // The trial grant's ledger line lands whenever the account first needs its balance; the rest in the order it happened.
        var items = all.Where(i => i.GetProperty("kind").GetString() != "ledger_line").ToList();
        items.Select(i => i.GetProperty("kind").GetString()).ShouldBe(["email", "signin", "signin", "signup"]);
        var mail = items[0];
        mail.GetProperty("id").GetString()!.ShouldStartWith("em_");
        mail.GetProperty("title").GetString()!.ShouldStartWith("Email sent: ");
        mail.GetProperty("detail").GetString().ShouldBe($"ResetPassword to {email}");
        // Newest first: the second sign-in, which has ended, then the first, still live.
        items[1].GetProperty("title").GetString().ShouldBe("Signed in (session since ended)");
        items[2].GetProperty("title").GetString().ShouldBe("Signed in");
        items[2].GetProperty("detail").GetString()!.ShouldNotBeNullOrWhiteSpace();
        var sessions = await app.ScalarAsync("SELECT count(*) FROM user_sessions WHERE user_id = @id AND id IN @ids",
            new { id = customer.Id, ids = new[] { items[1].GetProperty("id").GetString(), items[2].GetProperty("id").GetString() } });
        sessions.ShouldBe(2);

        // One at a time: the same items in the same order, none twice, across the new sources' cursors.
        (await TimelineOneAtATimeAsync(key, customer.Id)).ShouldBe(all.Select(i => i.GetProperty("id").GetString()!).ToList());

        var (_, browser) = await app.SignedInUserAsync(admin: true);
        var html = await browser.GetStringAsync($"/admin/customers/{customer.Id}");
        html.ShouldContain("data-kind=\"email\"");
        html.ShouldContain("data-kind=\"signin\"");
        html.ShouldContain($"ResetPassword to {email}");
    }

    [Fact]
    public async Task Timeline_ShowsEachAutoTopUp_ChargedFailedOrSkipped_WithWhy_PagedWithTheRest()
    {
        var (_, key) = await app.AdminKeyAsync();
        var customer = await app.CreateUserAsync($"topups-{Guid.NewGuid():N}@example.com");
        var other = await app.CreateUserAsync($"other-{Guid.NewGuid():N}@example.com");
        var at = DateTime.UtcNow;
        string Time(int seconds) => at.AddSeconds(seconds).ToString("yyyy-MM-dd HH:mm:ss.fffffff");
        await ExecuteAsync("""
            INSERT INTO auto_top_ups (user_id, status, plan_key, credits, amount_minor, currency, threshold, balance, payment_intent_id, error_code, error, turned_off, created_at, updated_at)
            VALUES (@Id, 'succeeded', 'bundle_10', 10, 400, 'usd', 5, 4, @pi1, NULL, NULL, 0, @t1, @t1),
                   (@Id, 'failed', 'bundle_10', 10, 400, 'usd', 5, 3, @pi2, 'card_declined', 'Your card was declined.', 1, @t2, @t2),
                   (@Id, 'canceled', 'bundle_10', 10, 400, 'usd', 5, 2, NULL, 'auto_top_up_disabled', 'Auto top-up is turned off by the operator.', 0, @t3, @t3),
                   (@Other, 'failed', 'bundle_10', 10, 400, 'usd', 5, 1, NULL, 'card_declined', 'not this customer''s', 0, @t3, @t3);
            """, new { customer.Id, Other = other.Id, pi1 = $"pi_{Guid.NewGuid():N}", pi2 = $"pi_{Guid.NewGuid():N}", t1 = Time(1), t2 = Time(2), t3 = Time(3) });

        var all = (await AdminTestApp.JsonAsync(await key.GetAsync($"/api/v1/admin/customers/{customer.Id}/timeline?limit=100"), HttpStatusCode.OK))
            .GetProperty("data").EnumerateArray().ToList();
        var topUps = all.Where(i => i.GetProperty("kind").GetString() == "auto_top_up").ToList();
        topUps.Select(i => i.GetProperty("title").GetString()).ShouldBe([
            "Auto top-up canceled: 10 credit(s) for 4.00 USD",
            "Auto top-up failed: 10 credit(s) for 4.00 USD",
            "Auto top-up succeeded: 10 credit(s) for 4.00 USD",
        ]);
        topUps[0].GetProperty("detail").GetString().ShouldBe("balance 2 crossed 5; auto_top_up_disabled: Auto top-up is turned off by the operator.");
        topUps[1].GetProperty("detail").GetString().ShouldBe("balance 3 crossed 5; card_declined: Your card was declined.; auto top-up turned off");
        topUps[2].GetProperty("detail").GetString().ShouldBe("balance 4 crossed 5");
        topUps.ShouldAllBe(i => i.GetProperty("id").GetString()!.StartsWith("atu_"));

        // A page at a time: each once, in the same order as the whole.
        (await TimelineOneAtATimeAsync(key, customer.Id)).ShouldBe(all.Select(i => i.GetProperty("id").GetString()!).ToList());
    }

    [Fact]
    public async Task CustomerPage_AdjustsAfterConfirmation_DoubleSubmitAdjustsOnce_AndRefusalsChangeNothing()
    {
        var (admin, browser) = await app.SignedInUserAsync(admin: true);
        var customer = await app.CreateUserAsync($"page-{Guid.NewGuid():N}@example.com");
        var url = $"/admin/customers/{customer.Id}";
        var page = await browser.GetStringAsync(url);
        page.ShouldContain("data-testid=\"customer-timeline\"");
        page.ShouldContain("Signed up");
        var token = Regex.Match(page, "name=\"Adjust.Token\" value=\"([0-9a-f]{32})\"").Groups[1].Value;
        token.ShouldNotBeEmpty();
        var antiforgery = TestApp.AntiforgeryToken(page);

        async Task<HttpResponseMessage> PostAsync(string handler, Dictionary<string, string> fields)
        {
            var form = new Dictionary<string, string>(fields) { ["__RequestVerificationToken"] = antiforgery };
            return await browser.PostAsync($"{url}?handler={handler}", new FormUrlEncodedContent(form));
        }

        var fields = new Dictionary<string, string> { ["Adjust.Amount"] = "15", ["Adjust.Bucket"] = "prepaid", ["Adjust.Reason"] = "=1+1 support ticket 42", ["Adjust.Token"] = token };
        var review = await PostAsync("Review", fields);
        review.StatusCode.ShouldBe(HttpStatusCode.OK);
        var confirmation = await review.Content.ReadAsStringAsync();
        confirmation.ShouldContain("data-testid=\"adjust-confirmation\"");
        confirmation.ShouldContain("Grant 15 prepaid credit(s)");
        (await app.BalanceAsync(customer.Id)).Prepaid.ShouldBe(0);

        // Confirm, twice (a double click), then once more from a second tab with the same form.
        var first = await PostAsync("Adjust", fields);
        first.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var second = await PostAsync("Adjust", fields);
        second.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await app.BalanceAsync(customer.Id)).Prepaid.ShouldBe(15);
        var entry = (await app.AuditAsync(customer.Id, AuditActions.CreditsAdjust)).ShouldHaveSingleItem();
        (entry.Actor, entry.ActorKind, entry.Reason).ShouldBe((admin.Id, "admin", "=1+1 support ticket 42"));
        (await app.ScalarAsync("SELECT count(*) FROM credit_ledger WHERE user_id = @Id AND kind = 'adjustment'", customer)).ShouldBe(1);
        var after = await browser.GetStringAsync(url);
        after.ShouldContain("already made");
        after.ShouldContain("data-testid=\"prepaid-credits\">15<");
        after.ShouldContain("credits.adjust by");

        // No reason, amount 0, a take-back below zero: shown as errors, nothing written.
        var fresh = Regex.Match(after, "name=\"Adjust.Token\" value=\"([0-9a-f]{32})\"").Groups[1].Value;
        fresh.ShouldNotBe(token);
        var noReason = await (await PostAsync("Adjust", new() { ["Adjust.Amount"] = "5", ["Adjust.Bucket"] = "prepaid", ["Adjust.Reason"] = "", ["Adjust.Token"] = fresh })).Content.ReadAsStringAsync();
        noReason.ShouldContain("Say why");
        var zero = await (await PostAsync("Review", new() { ["Adjust.Amount"] = "0", ["Adjust.Bucket"] = "prepaid", ["Adjust.Reason"] = "x", ["Adjust.Token"] = fresh })).Content.ReadAsStringAsync();
        zero.ShouldContain("at least one credit");
        zero.ShouldNotContain("data-testid=\"adjust-confirmation\"");
        var tooMuch = await PostAsync("Adjust", new() { ["Adjust.Amount"] = "-16", ["Adjust.Bucket"] = "prepaid", ["Adjust.Reason"] = "take back", ["Adjust.Token"] = fresh });
        tooMuch.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await tooMuch.Content.ReadAsStringAsync()).ShouldContain("cannot go below zero");
        (await app.BalanceAsync(customer.Id)).Prepaid.ShouldBe(15);
        (await app.AuditAsync(customer.Id, AuditActions.CreditsAdjust)).ShouldHaveSingleItem();

        // The same token, now for a real take-back within the balance: it was never used, so it works once.
        (await PostAsync("Adjust", new() { ["Adjust.Amount"] = "-5", ["Adjust.Bucket"] = "prepaid", ["Adjust.Reason"] = "take back", ["Adjust.Token"] = fresh }))
            .StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await app.BalanceAsync(customer.Id)).Prepaid.ShouldBe(10);

        (await browser.GetAsync("/admin/customers/nobody")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}
