using GenSaaS.StripeEmulator;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>Uncaptured authorisations end at the charge's <c>capture_before</c>, as at Stripe.</summary>
public sealed class EmulatorHoldExpiryTests
{
    [Fact]
    public async Task OffSessionHold_IsCanceledAutomatically_AtCaptureBefore_WithItsEvents()
    {
        using var app = new EmulatorApp();
        var (customer, pm) = await app.CustomerWithCardAsync(TestCard.Visa);
        var intents = new PaymentIntentService(app.Stripe);
        var held = await intents.CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = 50, Currency = "usd", Customer = customer.Id, PaymentMethod = pm, CaptureMethod = "manual", Confirm = true, OffSession = true, AllowedPaymentMethodTypes = ["card"],
        });
        var captured = await intents.CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = 60, Currency = "usd", Customer = customer.Id, PaymentMethod = pm, CaptureMethod = "manual", Confirm = true, OffSession = true, AllowedPaymentMethodTypes = ["card"],
        });
        await intents.CaptureAsync(captured.Id, new PaymentIntentCaptureOptions());
        var deadline = (await new ChargeService(app.Stripe).GetAsync(held.LatestChargeId)).PaymentMethodDetails.Card.CaptureBefore;

        await app.AdvanceDaysAsync(4);
        (await intents.GetAsync(held.Id)).Status.ShouldBe("requires_capture");
        app.Emulator.Now.UtcDateTime.ShouldBeLessThan(deadline);

        await app.AdvanceDaysAsync(1);
        app.Emulator.Now.UtcDateTime.ShouldBeGreaterThan(deadline);
        var expired = await intents.GetAsync(held.Id);
        expired.Status.ShouldBe("canceled");
        expired.CancellationReason.ShouldBe("automatic");
        expired.AmountCapturable.ShouldBe(0);
        var charge = await new ChargeService(app.Stripe).GetAsync(held.LatestChargeId);
        charge.Captured.ShouldBeFalse();
        charge.AmountRefunded.ShouldBe(50);
        (await intents.GetAsync(captured.Id)).Status.ShouldBe("succeeded");
        (await app.EventsAsync("payment_intent.canceled")).ShouldContain(e => ((PaymentIntent)e.Data.Object).Id == held.Id);
        (await app.EventsAsync("charge.expired")).ShouldContain(e => ((Charge)e.Data.Object).Id == held.LatestChargeId);
        (await intents.CaptureAsync(held.Id, new PaymentIntentCaptureOptions()).ContinueWith(t => t.Exception?.InnerException as StripeException))
            ?.StripeError.Code.ShouldBe("payment_intent_unexpected_state");
    }
}
