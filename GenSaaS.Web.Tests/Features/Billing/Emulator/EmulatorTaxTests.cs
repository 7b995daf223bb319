using System.Net;
using Stripe;
using Stripe.Checkout;
using TaxSettingsService = Stripe.Tax.SettingsService;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>
/// <c>/v1/tax/settings</c> and automatic tax on Checkout Sessions as Stripe documents them: a new account is pending until its
/// head office is set, and Stripe refuses automatic tax until then, in setup mode, and for a customer it may not locate.
/// </summary>
public sealed class EmulatorTaxTests
{
    private static SessionCreateOptions Payment(string priceId, string? customerId = null) => new()
    {
        Mode = "payment",
        Customer = customerId,
        SuccessUrl = "https://app.example/success",
        LineItems = [new SessionLineItemOptions { Price = priceId, Quantity = 1 }],
        AutomaticTax = new SessionAutomaticTaxOptions { Enabled = true },
    };

    [Fact]
    public async Task TaxSettings_StartPending_DefaultsAloneKeepThemPending_HeadOfficeActivates_AndFieldsAreNeverRemoved()
    {
        using var app = new EmulatorApp();
        var service = new TaxSettingsService(app.Stripe);

        var fresh = await service.GetAsync();
        fresh.Object.ShouldBe("tax.settings");
        fresh.Status.ShouldBe("pending");
        fresh.HeadOffice.ShouldBeNull();
        fresh.StatusDetails.Pending.MissingFields.ShouldBe(["head_office"]);
        fresh.StatusDetails.Active.ShouldBeNull();
        fresh.Livemode.ShouldBeFalse();
        fresh.Defaults.Provider.ShouldBe("stripe");
        using var dev = app.NewClient();
        (await dev.GetStringAsync("/emulator/dev")).ShouldContain("Tax settings: pending");

        var defaults = await service.UpdateAsync(new Stripe.Tax.SettingsUpdateOptions
        {
            Defaults = new Stripe.Tax.SettingsDefaultsOptions { TaxBehavior = "exclusive", TaxCode = "txcd_10103000" },
        });
        defaults.Status.ShouldBe("pending");
        defaults.Defaults.TaxBehavior.ShouldBe("exclusive");
        defaults.Defaults.TaxCode.ShouldBe("txcd_10103000");

        var badBehavior = await Should.ThrowAsync<StripeException>(() => service.UpdateAsync(new Stripe.Tax.SettingsUpdateOptions
        {
            Defaults = new Stripe.Tax.SettingsDefaultsOptions { TaxBehavior = "sometimes" },
        }));
        badBehavior.HttpStatusCode.ShouldBe(HttpStatusCode.BadRequest);
        badBehavior.StripeError.Param.ShouldBe("defaults[tax_behavior]");
        (await service.GetAsync()).Defaults.TaxBehavior.ShouldBe("exclusive");

        var active = await service.UpdateAsync(new Stripe.Tax.SettingsUpdateOptions
        {
            HeadOffice = new Stripe.Tax.SettingsHeadOfficeOptions { Address = new AddressOptions { Country = "de", PostalCode = "10115", City = "Berlin" } },
        });
        active.Status.ShouldBe("active");
        active.StatusDetails.Active.ShouldNotBeNull();
        active.StatusDetails.Pending.ShouldBeNull();
        active.HeadOffice.Address.Country.ShouldBe("DE");
        active.HeadOffice.Address.City.ShouldBe("Berlin");
        (await dev.GetStringAsync("/emulator/dev")).ShouldContain("Tax settings: active");

        // Changing one field keeps the others; none can be removed.
        var moved = await service.UpdateAsync(new Stripe.Tax.SettingsUpdateOptions
        {
            HeadOffice = new Stripe.Tax.SettingsHeadOfficeOptions { Address = new AddressOptions { City = "Hamburg" } },
        });
        moved.HeadOffice.Address.City.ShouldBe("Hamburg");
        moved.HeadOffice.Address.PostalCode.ShouldBe("10115");
        moved.Defaults.TaxCode.ShouldBe("txcd_10103000");
        (await service.GetAsync()).Status.ShouldBe("active");
    }

    [Fact]
    public async Task TaxSettings_RefuseWhatStripeDoesNotTake_AndAKeyFromElsewhere()
    {
        using var app = new EmulatorApp();
        using var http = app.NewClient();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", app.Emulator.SecretKey);

        var unknown = await http.PostAsync("/emulator/stripe/v1/tax/settings",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["head_office[address][planet]"] = "Mars" }));
        unknown.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await unknown.Content.ReadAsStringAsync()).ShouldContain("\"param\":\"head_office[address][planet]\"");

        var topLevel = await http.PostAsync("/emulator/stripe/v1/tax/settings",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["status"] = "active" }));
        topLevel.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await topLevel.Content.ReadAsStringAsync()).ShouldContain("parameter_unknown");

        // A head office takes only an address: anything else under it is an unknown parameter, named as Stripe names it.
        var noAddress = await http.PostAsync("/emulator/stripe/v1/tax/settings",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["head_office[name]"] = "x" }));
        noAddress.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await noAddress.Content.ReadAsStringAsync()).ShouldContain("\"param\":\"head_office[name]\"");

        using var stranger = app.NewClient();
        stranger.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "sk_test_not_this_emulators_key_000000");
        (await stranger.GetAsync("/emulator/stripe/v1/tax/settings")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        // None of it changed the settings.
        (await new TaxSettingsService(app.Stripe).GetAsync()).Status.ShouldBe("pending");
    }

    [Fact]
    public async Task CheckoutWithAutomaticTax_IsRefusedAsStripeRefusesIt_UntilTaxIsActive_ThenCarriesAutomaticTaxWithNoTaxAmount()
    {
        using var app = new EmulatorApp();
        var price = await app.PriceAsync(1000);
        var sessions = new SessionService(app.Stripe);
        var customer = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions { Email = "tax@example.com" });

        var inactive = await Should.ThrowAsync<StripeException>(() => sessions.CreateAsync(Payment(price.Id)));
        inactive.HttpStatusCode.ShouldBe(HttpStatusCode.BadRequest);
        inactive.StripeError.Type.ShouldBe("invalid_request_error");
        inactive.StripeError.Code.ShouldBe("stripe_tax_inactive");
        inactive.StripeError.Message.ShouldBe("Stripe Tax has not been activated on your account. Please visit https://stripe.com/docs/tax/set-up to get started.");
        (await sessions.ListAsync()).Data.ShouldBeEmpty();

        // Without automatic tax the same session is fine.
        var plain = Payment(price.Id);
        plain.AutomaticTax = null;
        (await sessions.CreateAsync(plain)).AutomaticTax.Enabled.ShouldBeFalse();

        await new TaxSettingsService(app.Stripe).UpdateAsync(new Stripe.Tax.SettingsUpdateOptions
        {
            HeadOffice = new Stripe.Tax.SettingsHeadOfficeOptions { Address = new AddressOptions { Country = "US", State = "CA" } },
        });

        var setup = await Should.ThrowAsync<StripeException>(() => sessions.CreateAsync(new SessionCreateOptions
        {
            Mode = "setup",
            Currency = "usd",
            Customer = customer.Id,
            SuccessUrl = "https://app.example/success",
            AutomaticTax = new SessionAutomaticTaxOptions { Enabled = true },
        }));
        setup.StripeError.Message.ShouldBe("You cannot set `automatic_tax[enabled]=true` in `setup` mode.");

        var noLocation = await Should.ThrowAsync<StripeException>(() => sessions.CreateAsync(Payment(price.Id, customer.Id)));
        noLocation.StripeError.Code.ShouldBe("customer_tax_location_invalid");
        noLocation.StripeError.Message.ShouldStartWith("Automatic tax calculation in Checkout requires a valid address on the Customer.");

        var taxIds = Payment(price.Id, customer.Id);
        taxIds.CustomerUpdate = new SessionCustomerUpdateOptions { Address = "auto" };
        taxIds.TaxIdCollection = new SessionTaxIdCollectionOptions { Enabled = true };
        var nameNeeded = await Should.ThrowAsync<StripeException>(() => sessions.CreateAsync(taxIds));
        nameNeeded.StripeError.Message.ShouldContain("set `customer_update[name]` to `auto`");

        taxIds.CustomerUpdate.Name = "auto";
        taxIds.BillingAddressCollection = "required";
        var session = await sessions.CreateAsync(taxIds);
        session.AutomaticTax.Enabled.ShouldBeTrue();
        session.AutomaticTax.Status.ShouldBe("requires_location_inputs");
        session.AutomaticTax.Liability.Type.ShouldBe("self");
        session.BillingAddressCollection.ShouldBe("required");
        session.TotalDetails.AmountTax.ShouldBe(0);
        session.AmountTotal.ShouldBe(1000);

        // A customer Stripe can already locate needs no address update; a wrong value is refused.
        var located = await new CustomerService(app.Stripe).CreateAsync(new CustomerCreateOptions { Address = new AddressOptions { Country = "US", PostalCode = "94103" } });
        (await sessions.CreateAsync(Payment(price.Id, located.Id))).AutomaticTax.Status.ShouldBe("complete");
        var wrong = Payment(price.Id, customer.Id);
        wrong.CustomerUpdate = new SessionCustomerUpdateOptions { Address = "sometimes" };
        (await Should.ThrowAsync<StripeException>(() => sessions.CreateAsync(wrong))).StripeError.Param.ShouldBe("customer_update[address]");
    }
}
