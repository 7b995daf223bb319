using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Identity;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>The app in Emulator mode with no trial credits, the Null generator and limits out of the way: only billing decides.</summary>
public class BillingTestApp : TestApp
{
    public BillingTestApp() : this(new Dictionary<string, string?>()) { }

    internal BillingTestApp(Dictionary<string, string?> extra, string? dataDir = null) : base(Merge(extra), dataDir) { }

    private static Dictionary<string, string?> Merge(Dictionary<string, string?> extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Credits:TrialCredits"] = "0",
            ["Credits:TrialRatePerMinute"] = "100000",
            ["Billing:Plans:pay_per_use:RatePerMinute"] = "100000",
            ["Billing:Plans:bundle_10:RatePerMinute"] = "100000",
            ["Billing:Plans:bundle_25:RatePerMinute"] = "100000",
            ["Billing:Plans:subscription_unlimited:RatePerMinute"] = "100000",
            ["Generation:Backend"] = "Null",
            ["Billing:Emulator:RetryBaseDelayMilliseconds"] = "300",
        };
        foreach (var (key, value) in extra)
            settings[key] = value;
        return settings;
    }

    public EmulatedStripe Emulator => Services.GetRequiredService<EmulatedStripe>();

    /// <summary>Stripe.net pointed at the emulator over HTTP, as an operator's script would be.</summary>
    public StripeClient StripeClient => new(Emulator.SecretKey, apiBase: BaseAddress.ToString().TrimEnd('/') + "/emulator/stripe");

    /// <summary>Chooses a plan on /billing the way the browser does: the page's form, its antiforgery token, a 303 to Checkout.</summary>
    public static async Task<string> ChooseAsync(HttpClient client, string planKey)
    {
        var page = await client.GetStringAsync("/billing");
        page.ShouldContain($"data-testid=\"choose-{planKey}\"");
        if (planKey == "subscription_unlimited")
        {
            // The monthly plan's button opens its preview; its confirm button starts Checkout.
            var preview = await client.GetStringAsync("/billing/plan/subscribe");
            preview.ShouldContain("data-testid=\"confirm-subscribe\"");
            var confirmed = await client.PostAsync("/billing/plan/subscribe", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["__RequestVerificationToken"] = AntiforgeryToken(preview),
            }));
            confirmed.StatusCode.ShouldBe(HttpStatusCode.SeeOther, await confirmed.Content.ReadAsStringAsync());
            return confirmed.Headers.Location!.ToString();
        }
        var form = new Dictionary<string, string> { ["plan"] = planKey, ["__RequestVerificationToken"] = AntiforgeryToken(page) };
        var response = await client.PostAsync("/api/billing/checkout", new FormUrlEncodedContent(form));
        response.StatusCode.ShouldBe(HttpStatusCode.SeeOther, await response.Content.ReadAsStringAsync());
        return response.Headers.Location!.ToString();
    }

    /// <summary>Pays on the hosted Checkout page over HTTP, as the customer typing a test card and pressing Pay.</summary>
    /// <summary>Pays on the hosted page; a 3-D Secure card's step is answered with <paramref name="authentication"/> ("complete" or "fail").</summary>
    public async Task<CheckoutOutcome> PayAsync(string sessionUrl, string card, string authentication = "complete")
    {
        using var browser = NewClient();
        var page = await browser.GetStringAsync(sessionUrl);
        page.ShouldContain("Card number");
        var form = new Dictionary<string, string>
        {
            ["Input.CardNumber"] = card,
            ["Input.Email"] = "",
            ["__RequestVerificationToken"] = AntiforgeryToken(page),
        };
        var response = await browser.PostAsync(new Uri(sessionUrl).PathAndQuery, new FormUrlEncodedContent(form));
        if (response.StatusCode == HttpStatusCode.OK && await response.Content.ReadAsStringAsync() is var step && step.Contains("three-d-secure-complete"))
        {
            form["Input.Authentication"] = authentication;
            form["__RequestVerificationToken"] = AntiforgeryToken(step);
            response = await browser.PostAsync(new Uri(sessionUrl).PathAndQuery, new FormUrlEncodedContent(form));
        }
        if (response.StatusCode is HttpStatusCode.Redirect or HttpStatusCode.SeeOther)
            return new CheckoutOutcome(true, response.Headers.Location!.ToString(), null);
        var html = await response.Content.ReadAsStringAsync();
        var error = System.Text.RegularExpressions.Regex.Match(html, "data-testid=\"checkout-error\">([^<]*)<");
        return new CheckoutOutcome(false, null, error.Success ? WebUtility.HtmlDecode(error.Groups[1].Value) : $"HTTP {(int)response.StatusCode}");
    }

    /// <summary>Chooses the plan and pays; returns the checkout session id.</summary>
    /// <summary>A <c>checkout.session.completed</c> event of a paid 10-credit bundle for <paramref name="customerId"/>, as Stripe sends it.</summary>
    public static string PaidBundleEvent(string customerId) => EventJson("checkout.session.completed", PaidBundleSession(customerId));

    /// <summary>A complete, paid Checkout Session of the 10-credit bundle for <paramref name="customerId"/>, naming the user when given.</summary>
    public static System.Text.Json.Nodes.JsonObject PaidBundleSession(string customerId, string? userId = null, string? note = null)
    {
        var metadata = new System.Text.Json.Nodes.JsonObject { ["plan_key"] = "bundle_10" };
        if (userId is not null)
            metadata["user_id"] = userId;
        if (note is not null)
            metadata["note"] = note;
        return new System.Text.Json.Nodes.JsonObject
        {
            ["id"] = "cs_test_" + Guid.NewGuid().ToString("N"),
            ["object"] = "checkout.session",
            ["mode"] = "payment",
            ["status"] = "complete",
            ["payment_status"] = "paid",
            ["customer"] = customerId,
            ["amount_total"] = 400,
            ["currency"] = "usd",
            ["metadata"] = metadata,
        };
    }

    /// <summary>
    /// An event as Stripe sends it (this API version, test mode) of <paramref name="type"/>, carrying a copy of
    /// <paramref name="obj"/>; <paramref name="created"/> defaults to now and <paramref name="id"/> to a new event id.
    /// </summary>
    public static string EventJson(string type, System.Text.Json.Nodes.JsonObject obj, long? created = null, string? id = null) => new System.Text.Json.Nodes.JsonObject
    {
        ["id"] = id ?? "evt_test_" + Guid.NewGuid().ToString("N"),
        ["object"] = "event",
        ["api_version"] = StripeConfiguration.ApiVersion,
        ["created"] = created ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        ["livemode"] = false,
        ["pending_webhooks"] = 1,
        ["request"] = new System.Text.Json.Nodes.JsonObject { ["id"] = null, ["idempotency_key"] = null },
        ["type"] = type,
        ["data"] = new System.Text.Json.Nodes.JsonObject { ["object"] = obj.DeepClone() },
    }.ToJsonString();

    /// <summary>Delivers <paramref name="payload"/> to the webhook endpoint signed with the emulator's secret; expects 200.</summary>
    public async Task DeliverSignedAsync(string payload)
    {
        using var client = NewClient();
        var header = EventUtility.GenerateSignatureHeader(payload, Emulator.WebhookSecret, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new StringContent(payload, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
        (await client.SendAsync(request)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    public async Task<string> BuyAsync(HttpClient client, string planKey, string card = TestCard.Visa)
    {
        var url = await ChooseAsync(client, planKey);
        var outcome = await PayAsync(url, card);
        outcome.Completed.ShouldBeTrue(outcome.Error);
        return new Uri(url).Segments[^1];
    }

    /// <summary>
    /// The signed-in customer opens the portal from the app (<c>POST /api/billing/portal</c>) and changes their card there,
    /// passing 3-D Secure when the card asks for it.
    /// </summary>
    public async Task ChangeCardInPortalAsync(HttpClient client, string card)
    {
        var response = await client.PostAsJsonAsync("/api/billing/portal", new { });
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var portalUrl = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("url").GetString()!;
        using var browser = NewClient();
        var posted = await PostFormAsync(browser, portalUrl + "?handler=Card", new() { ["Input.CardNumber"] = card });
        if (posted.StatusCode == HttpStatusCode.OK && (await posted.Content.ReadAsStringAsync()).Contains("three-d-secure-complete"))
            posted = await PostFormAsync(browser, portalUrl + "?handler=Card", new() { ["Input.CardNumber"] = card, ["Input.Authentication"] = "complete" });
        posted.StatusCode.ShouldBe(HttpStatusCode.Redirect);
    }

    public async Task<T> QueryAsync<T>(string sql, object? args = null)
    {
        await using var connection = await Db.OpenAsync();
        return await connection.QuerySingleOrDefaultAsync<T>(sql, args) ?? default!;
    }

    public async Task<List<T>> ListAsync<T>(string sql, object? args = null)
    {
        await using var connection = await Db.OpenAsync();
        return (await connection.QueryAsync<T>(sql, args)).ToList();
    }

    public async Task ExecuteAsync(string sql, object? args = null)
    {
        await using var connection = await Db.OpenAsync();
        await connection.ExecuteAsync(sql, args);
    }

    public Task<long> PrepaidAsync(string userId) =>
        QueryAsync<long>("SELECT coalesce((SELECT prepaid_balance FROM credit_balances WHERE user_id = @userId), 0)", new { userId });

    public Task<string?> SubscriptionStatusAsync(string userId) =>
        QueryAsync<string?>("SELECT status FROM subscriptions WHERE user_id = @userId ORDER BY updated_at DESC LIMIT 1", new { userId });

    /// <summary>A new customer, signed in, who bought the monthly plan through Checkout; returns once the webhook made it active.</summary>
    public async Task<(IdentityUser User, HttpClient Client, string SubscriptionId)> SubscribedUserAsync()
    {
        var (user, client) = await SignedInUserAsync();
        await BuyAsync(client, "subscription_unlimited");
        await EventuallyAsync(async () => await SubscriptionStatusAsync(user.Id) == "active", "subscription active");
        var id = await QueryAsync<string>("SELECT stripe_subscription_id FROM subscriptions WHERE user_id = @id", new { id = user.Id });
        return (user, client, id);
    }

    /// <summary>Polls until the condition holds (webhooks and jobs are asynchronous), failing with what was awaited.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new ShouldAssertException($"Timed out after {seconds} s waiting for: {what}");
            await Task.Delay(100);
        }
    }

    /// <summary>Waits until Hangfire has no job queued, running or scheduled: every email and follow-up a step queued has run.</summary>
    public async Task JobsSettledAsync()
    {
        var monitoring = Services.GetService(typeof(Hangfire.JobStorage)).ShouldBeOfType<Hangfire.Storage.SQLite.SQLiteStorage>().GetMonitoringApi();
        await EventuallyAsync(() => Task.FromResult(monitoring.EnqueuedCount("default") == 0 && monitoring.ProcessingCount() == 0
            && monitoring.ScheduledCount() == 0), "every queued job has run", seconds: 60);
    }

    public async Task<HttpResponseMessage> GenerateAsync(HttpClient client, string prompt = "a red kite", string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/generations") { Content = JsonContent.Create(new { prompt }) };
        if (idempotencyKey is not null)
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        return await client.SendAsync(request);
    }

    public static async Task<string?> ProblemCodeAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return body.TryGetProperty("code", out var code) ? code.GetString() : null;
    }

    public async Task AdvanceClockAsync(double days)
    {
        using var client = NewClient();
        var response = await client.PostAsync($"/emulator/dev/advance?days={days.ToString(System.Globalization.CultureInfo.InvariantCulture)}", null);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }
}
