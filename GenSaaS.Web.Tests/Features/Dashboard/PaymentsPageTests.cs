using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using GenSaaS.StripeEmulator;
using GenSaaS.Web.Tests.Features.Billing;
using Stripe;
using static GenSaaS.Web.Tests.Features.Dashboard.DashboardKit;

namespace GenSaaS.Web.Tests.Features.Dashboard;

/// <summary>Payments and receipts against the Stripe emulator: the links Stripe gives are kept and shown, and each image's receipt chains to them.</summary>
[Collection(BillingCollection.Name)]
public sealed class PaymentsPageTests
{
    private static List<(string Kind, string Html)> PaymentLines(string html) =>
        Regex.Matches(html, "data-testid=\"payment-line\" data-payment-id=\"pay_[0-9]+\" data-kind=\"([a-z_]+)\">([\\s\\S]*?)</tr>")
            .Select(m => (m.Groups[1].Value, m.Groups[2].Value)).ToList();

    private static string? Href(string html, string testId) =>
        Regex.Match(html, $"href=\"([^\"]+)\"[^>]*data-testid=\"{testId}\"") is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : null;

    private static async Task<string> GenerationIdAsync(HttpResponseMessage created)
    {
        created.StatusCode.ShouldBe(HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        return (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task PrepaidImage_ReceiptChainsToTheLedgerLine_AndTheBundlesStripeReceipt_WhichThePaymentsPageLinks()
    {
        using var app = new BillingTestApp();
        var (user, client) = await app.SignedInUserAsync();
        var sessionId = await app.BuyAsync(client, "bundle_10");
        await BillingTestApp.EventuallyAsync(async () => await app.PrepaidAsync(user.Id) == 10, "bundle granted");
        var intentId = (await new Stripe.Checkout.SessionService(app.StripeClient).GetAsync(sessionId)).PaymentIntentId;
        var charge = (await new PaymentIntentService(app.StripeClient).GetAsync(intentId, new PaymentIntentGetOptions { Expand = ["latest_charge"] })).LatestCharge;
        charge.ReceiptUrl.ShouldStartWith("https://");
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<string?>(
            "SELECT receipt_url FROM payments WHERE kind = 'bundle' AND stripe_id = @sessionId", new { sessionId }) == charge.ReceiptUrl, "receipt link stored");

        var payments = await client.GetStringAsync("/dashboard/payments");
        var bundle = PaymentLines(payments).Single();
        bundle.Kind.ShouldBe("bundle");
        Href(bundle.Html, "receipt-link").ShouldBe(charge.ReceiptUrl);
        var paid = await app.QueryAsync<long>("SELECT amount_minor FROM payments WHERE stripe_id = @sessionId", new { sessionId });
        TextOf(bundle.Html, "payment-amount").ShouldBe($"{paid / 100m:0.00} USD");

        var id = await GenerationIdAsync(await app.GenerateAsync(client, "a prepaid lighthouse"));
        var receipt = await client.GetStringAsync($"/generate/{id}/receipt");
        TextOf(receipt, "receipt-funding").ShouldBe("prepaid credits");
        var debit = await app.QueryAsync<long>("SELECT id FROM credit_ledger WHERE kind = 'debit' AND user_id = @id", new { id = user.Id });
        receipt.ShouldContain($"data-testid=\"receipt-ledger-line\" data-line-id=\"cl_{debit}\"");
        receipt.ShouldContain("data-testid=\"receipt-funding-purchase\"");
        Href(receipt, "receipt-link").ShouldBe(charge.ReceiptUrl);

        // A refund of the purchase: Stripe's charge.refunded carries the receipt (now listing the refund), shown on both rows.
        await new RefundService(app.StripeClient).CreateAsync(new RefundCreateOptions { Charge = charge.Id, Amount = 100 });
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<long>(
            "SELECT count(*) FROM payments WHERE kind = 'refund' AND user_id = @id", new { id = user.Id }) == 1, "refund recorded");
        var refund = PaymentLines(await client.GetStringAsync("/dashboard/payments")).First();
        refund.Kind.ShouldBe("refund");
        Href(refund.Html, "receipt-link").ShouldBe(charge.ReceiptUrl);
        TextOf(refund.Html, "payment-amount").ShouldBe("-1.00 USD");
        (await client.GetStringAsync($"/generate/{id}/receipt")).ShouldContain("data-kind=\"refund\"");
    }

    [Fact]
    public async Task PayPerUseImage_ReceiptChainsToTheHoldAndCapture_WithTheChargesReceipt_AndNoLedgerLine()
    {
        using var app = new BillingTestApp();
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "pay_per_use");
        await BillingTestApp.EventuallyAsync(async () =>
            await app.QueryAsync<string?>("SELECT default_payment_method FROM billing_customers WHERE user_id = @id", new { id = user.Id }) is not null, "card saved");

        var id = await GenerationIdAsync(await app.GenerateAsync(client, "a metered comet"));
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<string?>(
            "SELECT receipt_url FROM payments WHERE kind = 'capture' AND user_id = @id", new { id = user.Id }) is not null, "capture recorded with its receipt");
        var intentId = await app.QueryAsync<string>("SELECT payment_intent_id FROM usage_charges WHERE user_id = @id", new { id = user.Id });
        var charge = (await new PaymentIntentService(app.StripeClient).GetAsync(intentId, new PaymentIntentGetOptions { Expand = ["latest_charge"] })).LatestCharge;
        charge.Captured.ShouldBeTrue();

        var receipt = await client.GetStringAsync($"/generate/{id}/receipt");
        TextOf(receipt, "receipt-funding").ShouldBe("your saved card (pay per use)");
        receipt.ShouldContain("data-testid=\"receipt-no-ledger\"");
        var kinds = Regex.Matches(receipt, "data-testid=\"receipt-payment\" data-kind=\"([a-z]+)\"").Select(m => m.Groups[1].Value).ToList();
        kinds.ShouldBe(["authorisation", "capture"]);
        Href(receipt, "receipt-link").ShouldBe(charge.ReceiptUrl);
        receipt.ShouldContain(intentId);

        var payments = PaymentLines(await client.GetStringAsync("/dashboard/payments"));
        Href(payments.Single(p => p.Kind == "capture").Html, "receipt-link").ShouldBe(charge.ReceiptUrl);
    }

    [Fact]
    public async Task SubscriptionInvoice_IsListedWithStripesInvoicePageAndPdf()
    {
        using var app = new BillingTestApp();
        var (user, client) = await app.SignedInUserAsync();
        await app.BuyAsync(client, "subscription_unlimited");
        await BillingTestApp.EventuallyAsync(async () => await app.QueryAsync<long>(
            "SELECT count(*) FROM payments WHERE kind = 'subscription_invoice' AND user_id = @id AND hosted_invoice_url IS NOT NULL", new { id = user.Id }) == 1, "invoice recorded");
        var invoiceId = await app.QueryAsync<string>("SELECT stripe_id FROM payments WHERE kind = 'subscription_invoice' AND user_id = @id", new { id = user.Id });
        var invoice = await new InvoiceService(app.StripeClient).GetAsync(invoiceId);

        var line = PaymentLines(await client.GetStringAsync("/dashboard/payments")).Single(p => p.Kind == "subscription_invoice");
        Href(line.Html, "invoice-link").ShouldBe(invoice.HostedInvoiceUrl);
        Href(line.Html, "invoice-pdf-link").ShouldBe(invoice.InvoicePdf);
        invoice.HostedInvoiceUrl.ShouldStartWith("https://");
        invoice.InvoicePdf.ShouldStartWith("https://");

        var id = await GenerationIdAsync(await app.GenerateAsync(client, "a planned harbour"));
        var receipt = await client.GetStringAsync($"/generate/{id}/receipt");
        TextOf(receipt, "receipt-funding").ShouldBe("your monthly plan");
        Href(receipt, "invoice-link").ShouldBe(invoice.HostedInvoiceUrl);
    }

    [Fact]
    public async Task Payments_PageByCursor_AndAnotherCustomersCursorShowsTheNewestWithANote()
    {
        using var app = new BillingTestApp();
        var (user, client) = await app.SignedInUserAsync();
        var (other, _) = await app.SignedInUserAsync();
        var now = DateTime.UtcNow;
        for (var i = 0; i < 5; i++)
            await InsertPaymentAsync(app.Db, user.Id, "bundle", 100 + i, "usd", "paid", now.AddMinutes(i), $"cs_{i}_{user.Id}");
        await InsertPaymentAsync(app.Db, other.Id, "bundle", 999, "usd", "paid", now, $"cs_other_{other.Id}");

        var seen = new List<string>();
        var next = "/dashboard/payments?limit=2";
        while (next is not null)
        {
            var page = await client.GetStringAsync(next);
            seen.AddRange(TextsOf(page, "payment-amount"));
            next = Href(page, "payment-history-older");
        }
        seen.ShouldBe(["1.04 USD", "1.03 USD", "1.02 USD", "1.01 USD", "1.00 USD"]);

        var theirId = await app.QueryAsync<long>("SELECT id FROM payments WHERE user_id = @id", new { id = other.Id });
        var wrong = await client.GetStringAsync($"/dashboard/payments?starting_after=pay_{theirId}");
        wrong.ShouldContain("data-testid=\"payment-history-notice\"");
        wrong.ShouldNotContain("9.99 USD");
    }
}
