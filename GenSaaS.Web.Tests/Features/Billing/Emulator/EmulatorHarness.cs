using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>A webhook endpoint on its own Kestrel port that records what it receives and can fail on purpose.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, int> _seen = new();

    public sealed record Received(string Json, string Signature, HttpStatusCode Answer)
    {
        public string EventId => JsonDocument.Parse(Json).RootElement.GetProperty("id").GetString()!;
        public string Type => JsonDocument.Parse(Json).RootElement.GetProperty("type").GetString()!;
        public string ObjectId => JsonDocument.Parse(Json).RootElement.GetProperty("data").GetProperty("object").GetProperty("id").GetString()!;
    }

    public ConcurrentQueue<Received> Requests { get; } = new();

    /// <summary>How many times each event is answered 500 before it is accepted.</summary>
    public int FailuresPerEvent { get; set; }

    private WebhookReceiver(WebApplication app) => _app = app;

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/hook", async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var json = await reader.ReadToEndAsync();
            var id = JsonDocument.Parse(json).RootElement.GetProperty("id").GetString()!;
            var count = receiver._seen.AddOrUpdate(id, 1, (_, n) => n + 1);
            var answer = count <= receiver.FailuresPerEvent ? HttpStatusCode.InternalServerError : HttpStatusCode.OK;
            receiver.Requests.Enqueue(new Received(json, http.Request.Headers["Stripe-Signature"].ToString(), answer));
            http.Response.StatusCode = (int)answer;
        });
        await app.StartAsync();
        receiver.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/hook";
        return receiver;
    }

    public string Url { get; private set; } = "";

    /// <summary>Waits until the condition holds over what was received, or fails after the timeout.</summary>
    public async Task<List<Received>> WaitForAsync(Func<List<Received>, bool> done, int timeoutSeconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            var snapshot = Requests.ToList();
            if (done(snapshot)) return snapshot;
            await Task.Delay(100);
        }
        var last = Requests.ToList();
        done(last).ShouldBeTrue($"Webhooks received: {string.Join(", ", last.Select(r => r.Type))}");
        return last;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

/// <summary>The app with its emulator, a Stripe.net client pointed at it, and helpers to act as the customer.</summary>
public sealed class EmulatorApp : TestApp
{
    public EmulatorApp() : this(new Dictionary<string, string?>()) { }

    internal EmulatorApp(Dictionary<string, string?> settings, string? dataDir = null) : base(WithDefaults(settings), dataDir) { }

    private static Dictionary<string, string?> WithDefaults(Dictionary<string, string?> settings)
    {
        var all = new Dictionary<string, string?>
        {
            ["Billing:Mode"] = "Emulator",
            ["Billing:Emulator:RetryBaseDelayMilliseconds"] = "200",
            ["Billing:Emulator:PollIntervalMilliseconds"] = "50",
            ["Billing:Emulator:ShuffleWindowMilliseconds"] = "1000",
        };
        foreach (var (key, value) in settings) all[key] = value;
        return all;
    }

    public StripeClient Stripe => new(Emulator.SecretKey, apiBase: BaseAddress.ToString().TrimEnd('/') + "/emulator/stripe");

    public EmulatedStripe Emulator => Services.GetRequiredService<EmulatedStripe>();

    public async Task<Price> PriceAsync(long unitAmount, string? interval = null, string? lookupKey = null) =>
        await new PriceService(Stripe).CreateAsync(new PriceCreateOptions
        {
            Currency = "usd",
            UnitAmount = unitAmount,
            LookupKey = lookupKey,
            ProductData = new PriceProductDataOptions { Name = interval is null ? "10 credits" : "Unlimited monthly" },
            Recurring = interval is null ? null : new PriceRecurringOptions { Interval = interval },
        });

    /// <summary>Opens the hosted checkout page and pays with the card, as a customer in a browser would.</summary>
    public async Task<HttpResponseMessage> PayOnHostedPageAsync(string url, string card)
    {
        using var client = NewClient();
        return await PostFormAsync(client, url, new() { ["Input.CardNumber"] = card });
    }

    /// <summary>A customer with a saved default card, as pay-per-use has after setup checkout.</summary>
    public async Task<(Customer Customer, string PaymentMethodId)> CustomerWithCardAsync(string card)
    {
        var customer = await new CustomerService(Stripe).CreateAsync(new CustomerCreateOptions { Email = $"c-{Guid.NewGuid():N}@example.com" });
        var session = await new Stripe.Checkout.SessionService(Stripe).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "setup",
            Customer = customer.Id,
            Currency = "usd",
            SuccessUrl = "https://app.example/billing/done?session={CHECKOUT_SESSION_ID}",
            CancelUrl = "https://app.example/billing",
        });
        (await PayOnHostedPageAsync(session.Url, card)).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var setupIntent = await new SetupIntentService(Stripe).GetAsync((await new Stripe.Checkout.SessionService(Stripe).GetAsync(session.Id)).SetupIntentId);
        customer = await new CustomerService(Stripe).UpdateAsync(customer.Id, new CustomerUpdateOptions
        {
            InvoiceSettings = new CustomerInvoiceSettingsOptions { DefaultPaymentMethod = setupIntent.PaymentMethodId },
        });
        return (customer, setupIntent.PaymentMethodId);
    }

    /// <summary>A paid monthly subscription bought through subscription checkout with the card.</summary>
    public async Task<Subscription> SubscribeAsync(string card, long amount = 1900)
    {
        var price = await PriceAsync(amount, "month");
        var session = await new Stripe.Checkout.SessionService(Stripe).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "subscription",
            CustomerEmail = $"s-{Guid.NewGuid():N}@example.com",
            LineItems = [new() { Price = price.Id, Quantity = 1 }],
            SuccessUrl = "https://app.example/billing/done?session={CHECKOUT_SESSION_ID}",
            CancelUrl = "https://app.example/billing",
        });
        (await PayOnHostedPageAsync(session.Url, card)).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        session = await new Stripe.Checkout.SessionService(Stripe).GetAsync(session.Id);
        return await new SubscriptionService(Stripe).GetAsync(session.SubscriptionId);
    }

    private string? _portalConfigurationId;

    /// <summary>
    /// A portal session in a configuration made by API, as the app's <c>stripe sync</c> makes one: like a new Stripe account,
    /// the emulator has no default configuration to open a session without one.
    /// </summary>
    public async Task<Stripe.BillingPortal.Session> PortalSessionAsync(string customerId, string? returnUrl = null)
    {
        _portalConfigurationId ??= (await new Stripe.BillingPortal.ConfigurationService(Stripe).CreateAsync(new Stripe.BillingPortal.ConfigurationCreateOptions
        {
            Features = new Stripe.BillingPortal.ConfigurationFeaturesOptions
            {
                SubscriptionCancel = new Stripe.BillingPortal.ConfigurationFeaturesSubscriptionCancelOptions { Enabled = true, Mode = "at_period_end" },
                PaymentMethodUpdate = new Stripe.BillingPortal.ConfigurationFeaturesPaymentMethodUpdateOptions { Enabled = true },
            },
        })).Id;
        return await new Stripe.BillingPortal.SessionService(Stripe).CreateAsync(new Stripe.BillingPortal.SessionCreateOptions
        {
            Customer = customerId, ReturnUrl = returnUrl, Configuration = _portalConfigurationId,
        });
    }

    /// <summary>The customer changes their card in the hosted portal (passing 3-D Secure when the card asks for it).</summary>
    public async Task ChangeCardInPortalAsync(string customerId, string card)
    {
        var portal = await PortalSessionAsync(customerId);
        using var browser = NewClient();
        var response = await PostFormAsync(browser, portal.Url + "?handler=Card", new() { ["Input.CardNumber"] = card });
        if (response.StatusCode == HttpStatusCode.OK && (await response.Content.ReadAsStringAsync()).Contains("three-d-secure-complete"))
            response = await PostFormAsync(browser, portal.Url + "?handler=Card", new() { ["Input.CardNumber"] = card, ["Input.Authentication"] = "complete" });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
    }

    public async Task AdvanceDaysAsync(int days)
    {
        using var client = NewClient();
        var response = await client.PostAsync($"/emulator/dev/advance?days={days}", null);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    public async Task<List<Event>> EventsAsync(string type) =>
        (await new EventService(Stripe).ListAsync(new EventListOptions { Type = type, Limit = 100 })).Data;
}
