using System.Net;
using System.Text.Json;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>Balance transactions as Stripe keeps them: one per charge when money moves and per refund, with Stripe's fee.</summary>
public sealed class EmulatorBalanceTests(EmulatorApp app) : IClassFixture<EmulatorApp>
{
    private async Task<PaymentIntent> PayAsync(string customerId, string paymentMethodId, long amount, bool manual = false) =>
        await new PaymentIntentService(app.Stripe).CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = amount,
            Currency = "usd",
            Customer = customerId,
            PaymentMethod = paymentMethodId,
            CaptureMethod = manual ? "manual" : "automatic",
            AllowedPaymentMethodTypes = ["card"],
            Confirm = true,
            OffSession = true,
        });

    [Theory]
    [InlineData(1000, 59)]   // 2.9 % of 10.00 is 0.29, plus 0.30
    [InlineData(2500, 103)]  // 2.9 % of 25.00 is 0.725, rounded half away from zero to 0.73, plus 0.30
    [InlineData(50, 31)]     // 2.9 % of 0.50 is 0.0145, rounded to 0.01, plus 0.30
    public async Task PaidCharge_HasABalanceTransaction_WithStripesUsdCardFee(long amount, long fee)
    {
        var (customer, pm) = await app.CustomerWithCardAsync("4242424242424242");
        var intent = await PayAsync(customer.Id, pm, amount);

        var charge = await new ChargeService(app.Stripe).GetAsync(intent.LatestChargeId, new ChargeGetOptions { Expand = ["balance_transaction"] });
        var txn = charge.BalanceTransaction;
        txn.ShouldNotBeNull();
        txn.Id.ShouldStartWith("txn_");
        txn.Amount.ShouldBe(amount);
        txn.Fee.ShouldBe(fee);
        txn.Net.ShouldBe(amount - fee);
        txn.Currency.ShouldBe("usd");
        txn.Type.ShouldBe("charge");
        txn.ReportingCategory.ShouldBe("charge");
        txn.SourceId.ShouldBe(charge.Id);
        txn.Status.ShouldBe("pending");
        txn.BalanceType.ShouldBe("payments");
        txn.FeeDetails.Single().Type.ShouldBe("stripe_fee");
        txn.FeeDetails.Single().Amount.ShouldBe(fee);
        txn.AvailableOn.ShouldBeGreaterThan(txn.Created);
        (await new BalanceTransactionService(app.Stripe).GetAsync(txn.Id)).Net.ShouldBe(amount - fee);
    }

    [Fact]
    public async Task ManualCapture_MovesNoMoneyUntilCaptured_AndARefundReturnsNoFee()
    {
        var (customer, pm) = await app.CustomerWithCardAsync("4242424242424242");
        var hold = await PayAsync(customer.Id, pm, 700, manual: true);
        var charges = new ChargeService(app.Stripe);
        (await charges.GetAsync(hold.LatestChargeId)).BalanceTransactionId.ShouldBeNull();
        (await new BalanceTransactionService(app.Stripe).ListAsync(new BalanceTransactionListOptions { Source = hold.LatestChargeId })).Data.ShouldBeEmpty();

        await new PaymentIntentService(app.Stripe).CaptureAsync(hold.Id);
        var captured = await charges.GetAsync(hold.LatestChargeId, new ChargeGetOptions { Expand = ["balance_transaction"] });
        captured.BalanceTransaction.Amount.ShouldBe(700);
        captured.BalanceTransaction.Fee.ShouldBe(50); // 20.3 rounds to 20, plus 30

        var refund = await new RefundService(app.Stripe).CreateAsync(new RefundCreateOptions { Charge = captured.Id, Amount = 300 });
        var refundTxn = await new BalanceTransactionService(app.Stripe).GetAsync(refund.BalanceTransactionId);
        refundTxn.Amount.ShouldBe(-300);
        refundTxn.Fee.ShouldBe(0);
        refundTxn.Net.ShouldBe(-300);
        refundTxn.Type.ShouldBe("refund");
        refundTxn.ReportingCategory.ShouldBe("refund");
        refundTxn.SourceId.ShouldBe(refund.Id);
        refundTxn.FeeDetails.ShouldBeEmpty();
    }

    [Fact]
    public async Task List_FiltersByCreatedTypeAndSource_AndPagesWithStartingAfter()
    {
        var (customer, pm) = await app.CustomerWithCardAsync("4242424242424242");
        var from = (await new CustomerService(app.Stripe).GetAsync(customer.Id)).Created;
        var intents = new List<PaymentIntent>();
        for (var i = 0; i < 3; i++)
            intents.Add(await PayAsync(customer.Id, pm, 1000 + i));
        var refund = await new RefundService(app.Stripe).CreateAsync(new RefundCreateOptions { Charge = intents[0].LatestChargeId });
        var service = new BalanceTransactionService(app.Stripe);
        var window = new DateRangeOptions { GreaterThanOrEqual = from, LessThanOrEqual = DateTime.UtcNow.AddDays(1) };

        var charges = new List<BalanceTransaction>();
        await foreach (var txn in service.ListAutoPagingAsync(new BalanceTransactionListOptions { Created = window, Type = "charge", Limit = 1 }))
            charges.Add(txn);
        intents.Select(i => i.LatestChargeId).ShouldBeSubsetOf(charges.Select(t => t.SourceId));
        charges.ShouldAllBe(t => t.Type == "charge");

        var firstPage = await service.ListAsync(new BalanceTransactionListOptions { Created = window, Limit = 2 });
        firstPage.HasMore.ShouldBeTrue();
        var secondPage = await service.ListAsync(new BalanceTransactionListOptions { Created = window, Limit = 2, StartingAfter = firstPage.Data[^1].Id });
        secondPage.Data.Select(t => t.Id).ShouldNotContain(firstPage.Data[0].Id);

        var bySource = await service.ListAsync(new BalanceTransactionListOptions { Source = refund.Id });
        bySource.Data.Single().Amount.ShouldBe(-1000);
        (await service.ListAsync(new BalanceTransactionListOptions { Created = new DateRangeOptions { LessThan = from.AddDays(-1) } })).Data.ShouldBeEmpty();
        (await new ChargeService(app.Stripe).ListAsync(new ChargeListOptions { Customer = customer.Id, Created = new DateRangeOptions { GreaterThan = DateTime.UtcNow.AddDays(1) } })).Data.ShouldBeEmpty();
        (await new ChargeService(app.Stripe).ListAsync(new ChargeListOptions { Customer = customer.Id, Created = window })).Data.Count.ShouldBe(3);
        (await new RefundService(app.Stripe).ListAsync(new RefundListOptions { Charge = intents[0].LatestChargeId, Created = window })).Data.Single().Id.ShouldBe(refund.Id);
    }

    [Fact]
    public async Task DevDiscrepancy_ChangesStripeWithoutAnEvent()
    {
        var (customer, pm) = await app.CustomerWithCardAsync("4242424242424242");
        var paid = await PayAsync(customer.Id, pm, 1000);
        var eventsBefore = (await new EventService(app.Stripe).ListAsync(new EventListOptions { Limit = 100 })).Data.Count;
        using var client = app.NewClient();

        var unseen = await client.PostAsync($"/emulator/dev/discrepancy?kind=charge&customer={customer.Id}&amount=1500", null);
        unseen.StatusCode.ShouldBe(HttpStatusCode.OK, await unseen.Content.ReadAsStringAsync());
        var chargeId = JsonDocument.Parse(await unseen.Content.ReadAsStringAsync()).RootElement.GetProperty("charge").GetString()!;
        var charge = await new ChargeService(app.Stripe).GetAsync(chargeId, new ChargeGetOptions { Expand = ["balance_transaction"] });
        charge.Amount.ShouldBe(1500);
        charge.CustomerId.ShouldBe(customer.Id);
        charge.BalanceTransaction.Fee.ShouldBe(74);

        var refunded = await client.PostAsync($"/emulator/dev/discrepancy?kind=refund&charge={paid.LatestChargeId}&amount=400", null);
        refunded.StatusCode.ShouldBe(HttpStatusCode.OK, await refunded.Content.ReadAsStringAsync());
        (await new ChargeService(app.Stripe).GetAsync(paid.LatestChargeId)).AmountRefunded.ShouldBe(400);

        var changed = await client.PostAsync($"/emulator/dev/discrepancy?kind=amount&charge={paid.LatestChargeId}&amount=1200", null);
        changed.StatusCode.ShouldBe(HttpStatusCode.OK, await changed.Content.ReadAsStringAsync());
        var after = await new ChargeService(app.Stripe).GetAsync(paid.LatestChargeId, new ChargeGetOptions { Expand = ["balance_transaction"] });
        after.Amount.ShouldBe(1200);
        after.BalanceTransaction.Amount.ShouldBe(1200);
        after.BalanceTransaction.Fee.ShouldBe(65);

        (await new EventService(app.Stripe).ListAsync(new EventListOptions { Limit = 100 })).Data.Count.ShouldBe(eventsBefore);
        (await client.PostAsync("/emulator/dev/discrepancy?kind=dispute", null)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var missing = await client.PostAsync("/emulator/dev/discrepancy?kind=refund&charge=ch_nope", null);
        missing.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await missing.Content.ReadAsStringAsync()).ShouldContain("resource_missing");
    }

    [Fact]
    public async Task PartialCapture_ChargesTheAuthorisation_AndReversesTheUncapturedPart_AndFundsBecomeAvailableTwoDaysLater()
    {
        using var own = new EmulatorApp();
        var (customer, pm) = await own.CustomerWithCardAsync("4242424242424242");
        var hold = await new PaymentIntentService(own.Stripe).CreateAsync(new PaymentIntentCreateOptions
        {
            Amount = 1000, Currency = "usd", Customer = customer.Id, PaymentMethod = pm, CaptureMethod = "manual",
            AllowedPaymentMethodTypes = ["card"], Confirm = true, OffSession = true,
        });
        await new PaymentIntentService(own.Stripe).CaptureAsync(hold.Id, new PaymentIntentCaptureOptions { AmountToCapture = 600 });

        var txns = (await new BalanceTransactionService(own.Stripe).ListAsync(new BalanceTransactionListOptions { Source = hold.LatestChargeId })).Data;
        txns.Count.ShouldBe(2);
        var charge = txns.Single(t => t.ReportingCategory == "charge");
        charge.Amount.ShouldBe(1000);
        charge.Fee.ShouldBe(47); // Stripe's fee on what was captured: 2.9 % of 6.00 is 0.174, rounded to 0.17, plus 0.30
        var reversal = txns.Single(t => t.ReportingCategory == "partial_capture_reversal");
        reversal.Amount.ShouldBe(-400);
        reversal.Fee.ShouldBe(0);
        txns.Sum(t => t.Amount).ShouldBe(600);
        txns.ShouldAllBe(t => t.Status == "pending");

        await own.AdvanceDaysAsync(3);
        (await new BalanceTransactionService(own.Stripe).ListAsync(new BalanceTransactionListOptions { Source = hold.LatestChargeId })).Data
            .ShouldAllBe(t => t.Status == "available");
    }
}
