using System.Net;
using Stripe;
using Stripe.BillingPortal;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary><c>/v1/billing_portal/configurations</c> as Stripe documents it, and portal sessions that name one.</summary>
public sealed class EmulatorPortalConfigurationTests
{
    [Fact]
    public async Task PortalConfigurations_CreateListGetUpdate_AndSessionsOpenInOne()
    {
        using var app = new EmulatorApp();
        var service = new ConfigurationService(app.Stripe);

        var missing = await Should.ThrowAsync<StripeException>(() => service.CreateAsync(new ConfigurationCreateOptions()));
        missing.StripeError.Code.ShouldBe("parameter_missing");
        missing.StripeError.Param.ShouldBe("features");

        var created = await service.CreateAsync(new ConfigurationCreateOptions
        {
            Features = new ConfigurationFeaturesOptions
            {
                SubscriptionCancel = new ConfigurationFeaturesSubscriptionCancelOptions { Enabled = true, Mode = "at_period_end" },
                PaymentMethodUpdate = new ConfigurationFeaturesPaymentMethodUpdateOptions { Enabled = true },
            },
            Metadata = new Dictionary<string, string> { ["app"] = "gensaas" },
        });
        created.Id.ShouldStartWith("bpc_");
        created.Active.ShouldBeTrue();
        created.IsDefault.ShouldBeFalse();
        created.Features.SubscriptionCancel.Enabled.ShouldBeTrue();
        created.Features.SubscriptionCancel.Mode.ShouldBe("at_period_end");
        created.Features.PaymentMethodUpdate.Enabled.ShouldBeTrue();
        created.Features.InvoiceHistory.Enabled.ShouldBeFalse();

        var updated = await service.UpdateAsync(created.Id, new ConfigurationUpdateOptions
        {
            Features = new ConfigurationFeaturesOptions { InvoiceHistory = new ConfigurationFeaturesInvoiceHistoryOptions { Enabled = true } },
        });
        updated.Features.InvoiceHistory.Enabled.ShouldBeTrue();
        updated.Features.SubscriptionCancel.Enabled.ShouldBeTrue();
        (await service.GetAsync(created.Id)).Features.InvoiceHistory.Enabled.ShouldBeTrue();
        (await service.ListAsync(new ConfigurationListOptions { IsDefault = false })).Data.Select(c => c.Id).ShouldBe([created.Id]);
        (await service.ListAsync(new ConfigurationListOptions { IsDefault = true })).Data.ShouldBeEmpty();

        var badMode = await Should.ThrowAsync<StripeException>(() => service.UpdateAsync(created.Id, new ConfigurationUpdateOptions
        {
            Features = new ConfigurationFeaturesOptions { SubscriptionCancel = new ConfigurationFeaturesSubscriptionCancelOptions { Mode = "whenever" } },
        }));
        badMode.StripeError.Param.ShouldBe("features[subscription_cancel][mode]");
        (await service.GetAsync(created.Id)).Features.SubscriptionCancel.Mode.ShouldBe("at_period_end");

        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions());
        var sessions = new SessionService(app.Stripe);
        var session = await sessions.CreateAsync(new SessionCreateOptions { Customer = customer.Id, Configuration = created.Id, ReturnUrl = "https://app.example/billing" });
        session.ConfigurationId.ShouldBe(created.Id);
        var unknown = await Should.ThrowAsync<StripeException>(() => sessions.CreateAsync(new SessionCreateOptions { Customer = customer.Id, Configuration = "bpc_nope" }));
        unknown.HttpStatusCode.ShouldBe(HttpStatusCode.NotFound);
        unknown.StripeError.Param.ShouldBe("configuration");
    }
}
