using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using GenSaaS.StripeEmulator;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>The emulator's API faults (429, 500, an answer held past the client's timeout) and Stripe's idempotency under them.</summary>
public sealed class EmulatorApiFaultsTests
{
    private static StripeClient Client(EmulatorApp app, int retries, double timeoutSeconds = 20) =>
        new(app.Emulator.SecretKey,
            httpClient: new SystemNetHttpClient(new HttpClient { Timeout = TimeSpan.FromSeconds(timeoutSeconds) }, maxNetworkRetries: retries),
            apiBase: app.BaseAddress.ToString().TrimEnd('/') + "/emulator/stripe");

    private static async Task<int> CustomerCountAsync(EmulatorApp app, string email) =>
        (await new CustomerService(app.Stripe).ListAsync(new CustomerListOptions { Email = email, Limit = 100 })).Data.Count;

    [Fact]
    public async Task RateLimitFault_IsStripes429_WithShouldRetry_AndCreatesNothing()
    {
        using var app = new EmulatorApp();
        using var dev = app.NewClient();
        (await dev.PostAsync("/emulator/dev/api-faults?rateLimit=100&route=POST%20/customers&limit=1", null)).StatusCode.ShouldBe(HttpStatusCode.OK);

        using var raw = app.NewClient();
        raw.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.Emulator.SecretKey);
        raw.DefaultRequestHeaders.Add("Idempotency-Key", "create-ada");
        var response = await raw.PostAsync("/emulator/stripe/v1/customers", new FormUrlEncodedContent(new Dictionary<string, string> { ["email"] = "ada@example.com" }));
        response.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        response.Headers.GetValues("Stripe-Should-Retry").ShouldBe(["true"]);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        error.GetProperty("code").GetString().ShouldBe("rate_limit");
        error.GetProperty("type").GetString().ShouldBe("invalid_request_error");
        (await CustomerCountAsync(app, "ada@example.com")).ShouldBe(0);

        // The refused call saved nothing under its key: the same request now runs.
        var again = await raw.PostAsync("/emulator/stripe/v1/customers", new FormUrlEncodedContent(new Dictionary<string, string> { ["email"] = "ada@example.com" }));
        again.StatusCode.ShouldBe(HttpStatusCode.OK);
        again.Headers.Contains("Idempotent-Replayed").ShouldBeFalse();
        (await CustomerCountAsync(app, "ada@example.com")).ShouldBe(1);
    }

    [Fact]
    public async Task ServerErrorFault_WithoutRetries_IsApiError500_AndWithRetries_StripeNetCreatesExactlyOne()
    {
        using var app = new EmulatorApp();
        app.Emulator.SetApiFaults(new ApiFaults { ServerErrorPercent = 100, Route = "POST /customers", Limit = 2 });

        var ex = await Should.ThrowAsync<StripeException>(() => new CustomerService(Client(app, retries: 0))
            .CreateAsync(new CustomerCreateOptions { Email = "bo@example.com" }, new RequestOptions { IdempotencyKey = "customer:bo" }));
        ex.HttpStatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        ex.StripeError.Type.ShouldBe("api_error");
        (await CustomerCountAsync(app, "bo@example.com")).ShouldBe(0);

        // One more 500 is left: Stripe.net retries it with the same key and the second attempt creates the customer once.
        var created = await new CustomerService(Client(app, retries: 2))
            .CreateAsync(new CustomerCreateOptions { Email = "bo@example.com" }, new RequestOptions { IdempotencyKey = "customer:bo" });
        app.Emulator.RecentRequests.Where(r => r.Method == "POST" && r.Path == "/v1/customers").Select(r => r.Status).ShouldBe([500, 500, 200]);
        app.Emulator.ApiFaultsInjected.ShouldBe(2);
        (await CustomerCountAsync(app, "bo@example.com")).ShouldBe(1);
    }

    [Fact]
    public async Task HeldAnswer_TheObjectExists_AndTheSameKeyFindsIt()
    {
        using var app = new EmulatorApp();
        var (customer, pm) = await app.CustomerWithCardAsync(TestCard.Visa);
        var create = new PaymentIntentCreateOptions
        {
            Amount = 50, Currency = "usd", Customer = customer.Id, PaymentMethod = pm,
            CaptureMethod = "manual", Confirm = true, OffSession = true, AllowedPaymentMethodTypes = ["card"], Metadata = new() { ["usage_id"] = "u-held" },
        };
        app.Emulator.SetApiFaults(new ApiFaults { TimeoutPercent = 100, HoldSeconds = 30, Route = "POST /payment_intents", Limit = 1 });

        await Should.ThrowAsync<OperationCanceledException>(() => new PaymentIntentService(Client(app, retries: 0, timeoutSeconds: 1))
            .CreateAsync(create, new RequestOptions { IdempotencyKey = "authorize:u-held" }));
        var held = (await new PaymentIntentService(app.Stripe).ListAsync(new PaymentIntentListOptions { Customer = customer.Id })).Data;
        held.Count.ShouldBe(1);
        held[0].Status.ShouldBe("requires_capture");

        var found = await new PaymentIntentService(app.Stripe).CreateAsync(create, new RequestOptions { IdempotencyKey = "authorize:u-held" });
        found.Id.ShouldBe(held[0].Id);
        found.StripeResponse.Headers.Contains("Idempotent-Replayed").ShouldBeTrue();
        (await new PaymentIntentService(app.Stripe).ListAsync(new PaymentIntentListOptions { Customer = customer.Id })).Data.Count.ShouldBe(1);

        var other = await Should.ThrowAsync<StripeException>(() => new PaymentIntentService(app.Stripe)
            .CreateAsync(new PaymentIntentCreateOptions { Amount = 51, Currency = "usd", Customer = customer.Id, PaymentMethod = pm, CaptureMethod = "manual", Confirm = true, OffSession = true, AllowedPaymentMethodTypes = ["card"] },
                new RequestOptions { IdempotencyKey = "authorize:u-held" }));
        other.HttpStatusCode.ShouldBe(HttpStatusCode.BadRequest);
        other.StripeError.Type.ShouldBe("idempotency_error");
    }

    [Fact]
    public async Task HeldAnswer_StripeNetTimesOutAndRetries_GetsTheSavedAnswer_OneCapture()
    {
        using var app = new EmulatorApp();
        var (customer, pm) = await app.CustomerWithCardAsync(TestCard.Visa);
        var intent = await new PaymentIntentService(app.Stripe).CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = 50, Currency = "usd", Customer = customer.Id, PaymentMethod = pm, CaptureMethod = "manual", Confirm = true, OffSession = true, AllowedPaymentMethodTypes = ["card"],
        });
        app.Emulator.SetApiFaults(new ApiFaults { TimeoutPercent = 100, HoldSeconds = 30, Route = "POST /payment_intents", Limit = 1 });

        // The client's timeout must be far below the hold (30 s) yet long enough that the retry, which gets the saved
        // answer, never times out itself on a busy machine: with 1 s a slow retry timed out too and a third request went out.
        var captured = await new PaymentIntentService(Client(app, retries: 2, timeoutSeconds: 5))
            .CaptureAsync(intent.Id, new PaymentIntentCaptureOptions(), new RequestOptions { IdempotencyKey = "capture:once" });
        captured.Status.ShouldBe("succeeded");
        captured.StripeResponse.Headers.Contains("Idempotent-Replayed").ShouldBeTrue();
        app.Emulator.RecentRequests.Where(r => r.Path == $"/v1/payment_intents/{intent.Id}/capture").Select(r => r.Status).ShouldBe([0, 200]);
        var charges = await new ChargeService(app.Stripe).ListAsync(new ChargeListOptions { PaymentIntent = intent.Id });
        charges.Data.Single().AmountCaptured.ShouldBe(50);
    }

    [Fact]
    public async Task DevControl_RefusesSharesOver100_AndGoesBackToTheConfiguration()
    {
        using var app = new EmulatorApp(new() { ["Billing:Emulator:ApiFaults:ServerErrorPercent"] = "5" });
        using var dev = app.NewClient();
        (await dev.PostAsync("/emulator/dev/api-faults?rateLimit=60&serverError=60", null)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        app.Emulator.ApiFaultsInForce.ServerErrorPercent.ShouldBe(5);
        (await dev.PostAsync("/emulator/dev/api-faults?timeout=10&holdSeconds=3", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        app.Emulator.ApiFaultsInForce.TimeoutPercent.ShouldBe(10);
        app.Emulator.ApiFaultsInForce.ServerErrorPercent.ShouldBe(0);
        (await dev.PostAsync("/emulator/dev/api-faults?set=configured", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        app.Emulator.ApiFaultsInForce.ServerErrorPercent.ShouldBe(5);
        (await dev.GetStringAsync("/emulator/dev")).ShouldContain("500 5 %");
    }
}
