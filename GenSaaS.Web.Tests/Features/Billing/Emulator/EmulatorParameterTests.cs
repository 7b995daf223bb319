using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using GenSaaS.StripeEmulator;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>
/// The emulator refuses a parameter Stripe would refuse (400 <c>parameter_unknown</c> naming it), so a call that passes
/// against it is a call Stripe's API accepts; every route it serves is covered by the check.
/// </summary>
public sealed class EmulatorParameterTests(EmulatorApp app) : IClassFixture<EmulatorApp>
{
    private HttpClient Client()
    {
        var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.Emulator.SecretKey);
        return client;
    }

    [Fact]
    public async Task AnUnknownParameter_IsRefusedAsStripeRefusesIt_AndCreatesNothing()
    {
        using var client = Client();
        var email = $"unknown-{Guid.NewGuid():N}@example.com";
        var response = await client.PostAsync("/emulator/stripe/v1/customers",
            new FormUrlEncodedContent([new("email", email), new("favourite_colour", "blue")]));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        response.Headers.Contains("Request-Id").ShouldBeTrue();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = body.RootElement.GetProperty("error");
        error.GetProperty("type").GetString().ShouldBe("invalid_request_error");
        error.GetProperty("code").GetString().ShouldBe("parameter_unknown");
        error.GetProperty("param").GetString().ShouldBe("favourite_colour");
        error.GetProperty("message").GetString().ShouldBe("Received unknown parameter: favourite_colour");

        var found = await new CustomerService(app.Stripe).ListAsync(new CustomerListOptions { Email = email });
        found.Data.ShouldBeEmpty();
    }

    [Fact]
    public async Task AnUnknownParameter_SentThroughStripeNet_IsAStripeException_WithItsCode()
    {
        var options = new PaymentIntentCreateOptions { Amount = 500, Currency = "usd" };
        options.AddExtraParam("capture_later", "true");
        var ex = await Should.ThrowAsync<StripeException>(() => new PaymentIntentService(app.Stripe).CreateAsync(options));
        ex.HttpStatusCode.ShouldBe(HttpStatusCode.BadRequest);
        ex.StripeError.Code.ShouldBe("parameter_unknown");
        ex.StripeError.Param.ShouldBe("capture_later");
    }

    [Fact]
    public async Task AnUnknownQueryParameter_OnARead_IsRefusedToo()
    {
        using var client = Client();
        var response = await client.GetAsync("/emulator/stripe/v1/customers?limit=3&emial=a%40example.com");
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        body.RootElement.GetProperty("error").GetProperty("param").GetString().ShouldBe("emial");
    }

    [Fact]
    public async Task EveryParameterStripeNetSends_ForTheCallsTheAppMakes_IsAccepted()
    {
        // Nested objects, arrays, metadata and expansion: all names Stripe.net's options carry.
        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions
        {
            Email = $"known-{Guid.NewGuid():N}@example.com",
            Name = "Known",
            Metadata = new() { ["user_id"] = "u1" },
            Expand = ["invoice_settings.default_payment_method"],
        });
        var session = await new Stripe.Checkout.SessionService(app.Stripe).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "payment",
            Customer = customer.Id,
            ClientReferenceId = "u1",
            SuccessUrl = "https://example.com/s",
            CancelUrl = "https://example.com/c",
            LineItems = [new() { PriceData = new() { Currency = "usd", UnitAmount = 400, ProductData = new() { Name = "10 credits" } }, Quantity = 1 }],
            Metadata = new() { ["plan"] = "bundle_10" },
        });
        session.Id.ShouldStartWith("cs_");
    }

    [Fact]
    public void TheAcceptedNames_AreStripeNetsJsonNames_IncludingInheritedOnes()
    {
        var names = StripeParameters.Accepted(typeof(CustomerListOptions));
        names.ShouldContain("email");
        names.ShouldContain("limit");          // ListOptions
        names.ShouldContain("starting_after"); // ListOptions
        names.ShouldContain("expand");         // BaseOptions
        names.ShouldNotContain("Email");
        StripeParameters.Accepted(typeof(PaymentIntentCaptureOptions)).ShouldContain("amount_to_capture");
    }

    [Fact]
    public void EveryRouteTheEmulatorServes_IsCoveredByTheCheck()
    {
        var prefix = EmulatorApi.Prefix + "/v1";
        var served = app.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } raw && raw.StartsWith(prefix, StringComparison.Ordinal) && !raw.Contains("{**"))
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? []).Select(m => m + " " + e.RoutePattern.RawText![prefix.Length..]))
            .ToList();
        served.Count.ShouldBeGreaterThan(30);
        served.Where(route => !StripeParameters.Routes.ContainsKey(route)).ShouldBeEmpty();
    }
    [Theory]
    [InlineData("eur", 49, "Amount must be at least €0.50 eur")]
    [InlineData("usd", 49, "Amount must be at least $0.50 usd")]
    [InlineData("jpy", 49, "Amount must be at least ¥50 jpy")]
    [InlineData("gbp", 29, "Amount must be at least £0.30 gbp")]
    public async Task APaymentBelowTheCurrencysMinimum_IsAmountTooSmall(string currency, long amount, string message)
    {
        var ex = await Should.ThrowAsync<StripeException>(() =>
            new PaymentIntentService(app.Stripe).CreateAsync(new PaymentIntentCreateOptions { Amount = amount, Currency = currency }));
        ex.StripeError.Code.ShouldBe("amount_too_small");
        ex.StripeError.Param.ShouldBe("amount");
        ex.StripeError.Message.ShouldBe(message);
    }

    [Theory]
    [InlineData("gbp", 30)]
    [InlineData("jpy", 50)]
    [InlineData("EUR", 50)]
    public async Task APaymentAtTheMinimum_IsAccepted(string currency, long amount)
    {
        var intent = await new PaymentIntentService(app.Stripe).CreateAsync(new PaymentIntentCreateOptions { Amount = amount, Currency = currency });
        intent.Currency.ShouldBe(currency.ToLowerInvariant());
    }

    [Theory]
    [InlineData("xyz")]
    [InlineData("usdd")]
    [InlineData("")]
    public async Task AnUnknownCurrency_IsRefused_OnPricesAndPayments(string currency)
    {
        var onPrice = await Should.ThrowAsync<StripeException>(() => new PriceService(app.Stripe).CreateAsync(new PriceCreateOptions
        {
            Currency = currency, UnitAmount = 500, ProductData = new() { Name = "x" },
        }));
        onPrice.HttpStatusCode.ShouldBe(HttpStatusCode.BadRequest);
        onPrice.StripeError.Param.ShouldBe("currency");
        var onPayment = await Should.ThrowAsync<StripeException>(() =>
            new PaymentIntentService(app.Stripe).CreateAsync(new PaymentIntentCreateOptions { Amount = 500, Currency = currency }));
        onPayment.StripeError.Param.ShouldBe("currency");
    }

    [Fact]
    public async Task ACheckoutSessionBelowTheMinimum_IsRefused()
    {
        var ex = await Should.ThrowAsync<StripeException>(() => new Stripe.Checkout.SessionService(app.Stripe).CreateAsync(new Stripe.Checkout.SessionCreateOptions
        {
            Mode = "payment",
            SuccessUrl = "https://example.com/s",
            LineItems = [new() { PriceData = new() { Currency = "usd", UnitAmount = 40, ProductData = new() { Name = "cheap" } }, Quantity = 1 }],
        }));
        ex.StripeError.Code.ShouldBe("amount_too_small");
        ex.StripeError.Message.ShouldBe("The Checkout Session's total amount due must add up to at least $0.50 usd");
    }

    [Fact]
    public void TheEmulatorAndThePlanCatalogue_KnowTheSameMinimums() =>
        StripeCurrencies.MinimumCharge.OrderBy(kv => kv.Key)
            .ShouldBe(GenSaaS.Web.Features.Plans.PlanCatalogValidator.StripeMinimumCharge.OrderBy(kv => kv.Key));
}
