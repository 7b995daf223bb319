using System.Net;
using System.Text;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary><c>/v1/webhook_endpoints</c> as Stripe documents it, and deliveries that follow the registered endpoints.</summary>
public sealed class EmulatorWebhookEndpointTests
{
    [Fact]
    public async Task WebhookEndpoints_CreateShowsTheSecretOnce_ListGetUpdateDelete_AsStripeDoes()
    {
        using var app = new EmulatorApp();
        var service = new WebhookEndpointService(app.Stripe);

        var created = await service.CreateAsync(new WebhookEndpointCreateOptions
        {
            Url = "https://gensaas.test/api/billing/webhook",
            EnabledEvents = ["checkout.session.completed", "charge.refunded"],
            ApiVersion = StripeConfiguration.ApiVersion,
        });
        created.Id.ShouldStartWith("we_");
        created.Secret.ShouldStartWith("whsec_");
        created.Status.ShouldBe("enabled");
        created.ApiVersion.ShouldBe(StripeConfiguration.ApiVersion);
        created.EnabledEvents.ShouldBe(["checkout.session.completed", "charge.refunded"]);
        created.Url.ShouldBe("https://gensaas.test/api/billing/webhook");

        var fetched = await service.GetAsync(created.Id);
        fetched.Secret.ShouldBeNull();
        fetched.Url.ShouldBe(created.Url);
        var second = await service.CreateAsync(new WebhookEndpointCreateOptions { Url = "https://other.test/hook", EnabledEvents = ["*"] });
        second.ApiVersion.ShouldBeNull();
        second.Secret.ShouldNotBe(created.Secret);
        var listed = await service.ListAsync(new WebhookEndpointListOptions { Limit = 10 });
        listed.Data.Select(e => e.Id).ShouldBe([second.Id, created.Id]);
        listed.Data.ShouldAllBe(e => e.Secret == null);

        var updated = await service.UpdateAsync(created.Id, new WebhookEndpointUpdateOptions { EnabledEvents = ["invoice.paid"], Disabled = true });
        updated.EnabledEvents.ShouldBe(["invoice.paid"]);
        updated.Status.ShouldBe("disabled");
        updated.Secret.ShouldBeNull();
        updated.ApiVersion.ShouldBe(StripeConfiguration.ApiVersion);

        var deleted = await service.DeleteAsync(second.Id);
        deleted.Deleted.ShouldBe(true);
        var missing = await Should.ThrowAsync<StripeException>(() => service.GetAsync(second.Id));
        missing.HttpStatusCode.ShouldBe(HttpStatusCode.NotFound);
        missing.StripeError.Code.ShouldBe("resource_missing");
    }

    [Fact]
    public async Task WebhookEndpoints_RefuseWhatStripeRefuses_AndCreateNothing()
    {
        using var app = new EmulatorApp();
        var service = new WebhookEndpointService(app.Stripe);

        var noUrl = await Should.ThrowAsync<StripeException>(() => service.CreateAsync(new WebhookEndpointCreateOptions { EnabledEvents = ["*"] }));
        noUrl.StripeError.Code.ShouldBe("parameter_missing");
        noUrl.StripeError.Param.ShouldBe("url");
        var noEvents = await Should.ThrowAsync<StripeException>(() => service.CreateAsync(new WebhookEndpointCreateOptions { Url = "https://a.test/hook" }));
        noEvents.StripeError.Param.ShouldBe("enabled_events");
        var badEvent = await Should.ThrowAsync<StripeException>(() => service.CreateAsync(new WebhookEndpointCreateOptions { Url = "https://a.test/hook", EnabledEvents = ["charge.refunded", "charge.exploded"] }));
        badEvent.StripeError.Param.ShouldBe("enabled_events[1]");
        var badUrl = await Should.ThrowAsync<StripeException>(() => service.CreateAsync(new WebhookEndpointCreateOptions { Url = "ftp://a.test/hook", EnabledEvents = ["*"] }));
        badUrl.StripeError.Param.ShouldBe("url");

        // api_version is fixed at creation: Stripe's update takes no such parameter.
        var endpoint = await service.CreateAsync(new WebhookEndpointCreateOptions { Url = "https://a.test/hook", EnabledEvents = ["*"] });
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", app.Emulator.SecretKey);
        var response = await http.PostAsync(app.BaseAddress + $"emulator/stripe/v1/webhook_endpoints/{endpoint.Id}",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["api_version"] = "2024-06-20" }));
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldContain("Received unknown parameter: api_version");

        (await service.ListAsync()).Data.Select(e => e.Id).ShouldBe([endpoint.Id]);
    }

    [Fact]
    public async Task RegisteredEndpoints_GetTheEventsTheyWant_InTheirApiVersion_SignedWithTheirSecret()
    {
        var wantsCustomers = await WebhookReceiver.StartAsync();
        await using var _ = wantsCustomers;
        var wantsProducts = await WebhookReceiver.StartAsync();
        await using var __ = wantsProducts;
        var configured = await WebhookReceiver.StartAsync();
        await using var ___ = configured;
        using var app = new EmulatorApp(new() { ["Billing:Emulator:WebhookUrl"] = configured.Url });
        var service = new WebhookEndpointService(app.Stripe);

        // With none registered, the configured endpoint gets everything, signed with the emulator's secret.
        await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions());
        var before = await configured.WaitForAsync(r => r.Any(x => x.Type == "customer.created"));
        EventUtility.ValidateSignature(before[0].Json, before[0].Signature, app.Emulator.WebhookSecret);

        var customers = await service.CreateAsync(new WebhookEndpointCreateOptions { Url = wantsCustomers.Url, EnabledEvents = ["customer.created"], ApiVersion = "2024-06-20" });
        var products = await service.CreateAsync(new WebhookEndpointCreateOptions { Url = wantsProducts.Url, EnabledEvents = ["*"] });
        var off = await service.CreateAsync(new WebhookEndpointCreateOptions { Url = configured.Url, EnabledEvents = ["*"] });
        await service.UpdateAsync(off.Id, new WebhookEndpointUpdateOptions { Disabled = true });
        var configuredBefore = configured.Requests.Count;

        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions());
        await new ProductService(app.Stripe).CreateAsync(new ProductCreateOptions { Name = "Kites" });

        var toCustomers = await wantsCustomers.WaitForAsync(r => r.Any(x => x.ObjectId == customer.Id));
        var toProducts = await wantsProducts.WaitForAsync(r => r.Any(x => x.Type == "product.created") && r.Any(x => x.ObjectId == customer.Id));
        await Task.Delay(1000);
        toCustomers = wantsCustomers.Requests.ToList();
        toCustomers.Select(x => x.Type).ShouldBe(["customer.created"]);
        var one = toCustomers[0];
        EventUtility.ValidateSignature(one.Json, one.Signature, customers.Secret);
        Should.Throw<StripeException>(() => EventUtility.ValidateSignature(one.Json, one.Signature, app.Emulator.WebhookSecret));
        System.Text.Json.JsonDocument.Parse(one.Json).RootElement.GetProperty("api_version").GetString().ShouldBe("2024-06-20");

        var product = toProducts.First(x => x.Type == "product.created");
        EventUtility.ValidateSignature(product.Json, product.Signature, products.Secret);
        EventUtility.ConstructEvent(product.Json, product.Signature, products.Secret).ApiVersion.ShouldBe(StripeConfiguration.ApiVersion);
        configured.Requests.Count.ShouldBe(configuredBefore, "neither the disabled endpoint nor the configured one gets events once endpoints are registered");
    }
}
