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

    private async Task<(HttpStatusCode Status, JsonElement Error)> SendAsync(HttpMethod method, string path, params (string Key, string Value)[] form)
    {
        using var client = Client();
        using var request = new HttpRequestMessage(method, "/emulator/stripe/v1" + path);
        if (method != HttpMethod.Get)
            request.Content = new FormUrlEncodedContent(form.Select(f => KeyValuePair.Create(f.Key, f.Value)));
        using var response = await client.SendAsync(request);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        return (response.StatusCode, body.TryGetProperty("error", out var error) ? error : body);
    }

    private static void ShouldBeUnknown((HttpStatusCode Status, JsonElement Error) answer, string param)
    {
        answer.Status.ShouldBe(HttpStatusCode.BadRequest, answer.Error.ToString());
        answer.Error.GetProperty("type").GetString().ShouldBe("invalid_request_error");
        answer.Error.GetProperty("code").GetString().ShouldBe("parameter_unknown");
        answer.Error.GetProperty("param").GetString().ShouldBe(param);
        answer.Error.GetProperty("message").GetString().ShouldBe($"Received unknown parameter: {param}");
    }

    [Theory]
    [InlineData("automatic_payment_methods[allow_redirect]", "automatic_payment_methods[allow_redirect]")]
    [InlineData("payment_method_options[card][capture_methd]", "payment_method_options[card][capture_methd]")]
    [InlineData("payment_method_options[cardd][capture_method]", "payment_method_options[cardd]")]
    [InlineData("automatic_payment_methods[nope][deeper][still]", "automatic_payment_methods[nope]")]
    [InlineData("payment_method_options[card][0]", "payment_method_options[card][0]")]
    public async Task AnUnknownNestedParameter_IsRefusedWithItsBracketedName_AndCreatesNothing(string sent, string param)
    {
        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions { Email = $"nested-{Guid.NewGuid():N}@example.com" });

        ShouldBeUnknown(await SendAsync(HttpMethod.Post, "/payment_intents",
            ("amount", "500"), ("currency", "usd"), ("customer", customer.Id),
            ("automatic_payment_methods[enabled]", "true"), (sent, "never")), param);

        var created = await new PaymentIntentService(app.Stripe).ListAsync(new PaymentIntentListOptions { Customer = customer.Id });
        created.Data.ShouldBeEmpty();
    }

    [Fact]
    public async Task ARefusedNestedParameter_SavesNothingUnderTheIdempotencyKey_SoTheCorrectedCallWithTheSameKeyRuns()
    {
        var key = "nested-" + Guid.NewGuid().ToString("N");
        var intents = new PaymentIntentService(app.Stripe);
        var wrong = new PaymentIntentCreateOptions { Amount = 700, Currency = "usd" };
        wrong.AddExtraParam("automatic_payment_methods[allow_redirect]", "never");
        var refused = await Should.ThrowAsync<StripeException>(() => intents.CreateAsync(wrong, new RequestOptions { IdempotencyKey = key }));
        refused.StripeError.Param.ShouldBe("automatic_payment_methods[allow_redirect]");

        var right = new PaymentIntentCreateOptions
        {
            Amount = 700,
            Currency = "usd",
            AutomaticPaymentMethods = new() { Enabled = true, AllowRedirects = "never" },
        };
        var first = await intents.CreateAsync(right, new RequestOptions { IdempotencyKey = key });
        var replay = await intents.CreateAsync(right, new RequestOptions { IdempotencyKey = key });
        replay.Id.ShouldBe(first.Id);
    }

    [Fact]
    public async Task TheSameNestedParameters_SpelledAsStripeTakesThem_AreAccepted()
    {
        var answer = await SendAsync(HttpMethod.Post, "/payment_intents",
            ("amount", "500"), ("currency", "usd"),
            ("automatic_payment_methods[enabled]", "true"), ("automatic_payment_methods[allow_redirects]", "never"),
            ("payment_method_options[card][capture_method]", "manual"));
        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Error.ToString());
        answer.Error.GetProperty("id").GetString().ShouldStartWith("pi_");
    }

    [Theory]
    [InlineData("line_items[0][price_data][unit_amout]", "line_items[0][price_data][unit_amout]")]
    [InlineData("line_items[1][pricee]", "line_items[1][pricee]")]
    [InlineData("line_items[0][price_data][product_data][colour]", "line_items[0][price_data][product_data][colour]")]
    [InlineData("subscription_data[trial_dayz]", "subscription_data[trial_dayz]")]
    public async Task AnUnknownParameterInsideAListItem_IsRefusedWithItsIndex(string sent, string param)
    {
        ShouldBeUnknown(await SendAsync(HttpMethod.Post, "/checkout/sessions",
            ("mode", "payment"), ("success_url", "https://example.com/s"),
            ("line_items[0][price_data][currency]", "usd"), ("line_items[0][price_data][unit_amount]", "400"),
            ("line_items[0][price_data][product_data][name]", "10 credits"), ("line_items[0][quantity]", "1"),
            ("line_items[1][price_data][currency]", "usd"), ("line_items[1][price_data][unit_amount]", "400"),
            ("line_items[1][price_data][product_data][name]", "20 credits"), ("line_items[1][quantity]", "1"),
            (sent, "1")), param);
    }

    [Fact]
    public async Task MetadataTakesAnyKey_AtTheTopAndNested()
    {
        var answer = await SendAsync(HttpMethod.Post, "/checkout/sessions",
            ("mode", "subscription"), ("success_url", "https://example.com/s"),
            ("line_items[0][price]", (await app.PriceAsync(900, "month")).Id), ("line_items[0][quantity]", "1"),
            ("metadata[any key at all]", "1"), ("metadata[user_id]", "u1"),
            ("subscription_data[metadata][whatever_we_like]", "x"));
        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Error.ToString());
    }

    [Fact]
    public async Task ADictionaryOfOptions_TakesAnyKey_ButChecksTheNamesUnderIt()
    {
        // currency_options is keyed by currency; what sits under each currency is a fixed set of names.
        ShouldBeUnknown(await SendAsync(HttpMethod.Post, "/prices",
            ("currency", "usd"), ("unit_amount", "500"), ("product_data[name]", "x"),
            ("currency_options[eur][unit_amout]", "450")), "currency_options[eur][unit_amout]");
    }

    [Fact]
    public async Task EmptyingANestedObjectWithAnEmptyString_IsNotAnUnknownName()
    {
        // Stripe.net sends "metadata=" (or "items=") to clear a field it was told to set to null.
        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions
        {
            Email = $"empty-{Guid.NewGuid():N}@example.com",
            Metadata = new() { ["a"] = "1" },
        });
        var answer = await SendAsync(HttpMethod.Post, $"/customers/{customer.Id}", ("metadata", ""));
        answer.Status.ShouldBe(HttpStatusCode.OK, answer.Error.ToString());
    }

    [Fact]
    public async Task Expand_IsAcceptedAsAList_InTheBodyAndInTheQuery()
    {
        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions { Email = $"expand-{Guid.NewGuid():N}@example.com" });
        (await SendAsync(HttpMethod.Post, $"/customers/{customer.Id}", ("expand[]", "invoice_settings.default_payment_method"), ("name", "x")))
            .Status.ShouldBe(HttpStatusCode.OK);
        (await SendAsync(HttpMethod.Get, $"/customers/{customer.Id}?expand[0]=invoice_settings.default_payment_method"))
            .Status.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task AnUnknownNameUnderAnAnyOf_IsRefused_AndAKnownOneIsNot()
    {
        // created is a timestamp or a range object (Stripe.net's AnyOf<DateTime?, DateRangeOptions>).
        (await SendAsync(HttpMethod.Get, "/customers?created[gte]=1700000000&created[lt]=1900000000")).Status.ShouldBe(HttpStatusCode.OK);
        (await SendAsync(HttpMethod.Get, "/customers?created=1700000000")).Status.ShouldBe(HttpStatusCode.OK);
        ShouldBeUnknown(await SendAsync(HttpMethod.Get, "/customers?created[since]=1700000000"), "created[since]");
    }

    [Fact]
    public async Task AnUnknownNestedParameter_SentThroughStripeNet_IsAStripeException_WithItsName()
    {
        var options = new PaymentIntentCreateOptions
        {
            Amount = 500,
            Currency = "usd",
            PaymentMethodOptions = new() { Card = new() { CaptureMethod = "manual" } },
        };
        options.AddExtraParam("payment_method_options[card][capture_later]", "true");
        var ex = await Should.ThrowAsync<StripeException>(() => new PaymentIntentService(app.Stripe).CreateAsync(options));
        ex.HttpStatusCode.ShouldBe(HttpStatusCode.BadRequest);
        ex.StripeError.Code.ShouldBe("parameter_unknown");
        ex.StripeError.Param.ShouldBe("payment_method_options[card][capture_later]");
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
        StripeParameters.Routes.Keys.Except(served).ShouldBeEmpty("a route in the table the emulator no longer serves");
        StripeParameters.Routes.Values.Where(options => !typeof(BaseOptions).IsAssignableFrom(options)).ShouldBeEmpty();
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
