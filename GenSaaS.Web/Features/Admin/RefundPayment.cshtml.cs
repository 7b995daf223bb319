using System.ComponentModel.DataAnnotations;
using System.Globalization;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// <c>/admin/payments/{paymentId}/refund</c>, reached from a payment on the customer page: the amount (empty: all that remains)
/// and a reason, a confirmation step that repeats what will happen, then the refund. The form's token is made when the page is
/// shown and names the refund at Stripe and here, so confirming twice, resending the form or confirming from a second tab
/// refunds once and says so.
/// </summary>
[Authorize(Policy = Roles.Admin)]
public sealed class RefundPayment(PaymentRefunds refunds, CustomerDirectory directory) : PageModel
{
    public sealed record RefundInput
    {
        /// <summary>In the currency's major unit as typed ("2.50"); empty refunds all that remains.</summary>
        public string? Amount { get; init; }

        [Required(ErrorMessage = "Say why: the reason goes into the audit log.")]
        [StringLength(PaymentRefunds.MaxReasonLength, ErrorMessage = "Keep the reason under 500 characters.")]
        public string? Reason { get; init; }

        [Required]
        [RegularExpression("^[0-9a-f]{32}$")]
        public string? Token { get; init; }
    }

    [BindProperty(SupportsGet = true, Name = "paymentId")]
    public string PaymentIdText { get; set; } = "";

    [BindProperty]
    public RefundInput Input { get; set; } = new();

    public RefundablePayment? Payment { get; private set; }

    public string? CustomerEmail { get; private set; }

    /// <summary>True on the confirmation step: the form's values are repeated with a Confirm button.</summary>
    public bool Confirming { get; private set; }

    /// <summary>The amount to refund in minor units, once read from the form (null: all that remains).</summary>
    public long? AmountMinor { get; private set; }

    /// <summary>Set when Stripe did not answer: nothing changed, the page says so and offers the button again.</summary>
    public bool StripeUnavailable { get; private set; }

    public string Money(long minor) => Shared.Money.Format(minor, Payment!.Currency);

    /// <summary>What the confirmation refunds, in words.</summary>
    public string RefundAmountText => AmountMinor is { } a ? Money(a) : $"all that remains, {Money(Payment!.RemainingMinor)}";

    private async Task<bool> LoadAsync(CancellationToken ct)
    {
        if (PaymentRefunds.ParsePaymentId(PaymentIdText) is not { } id || await refunds.FindAsync(id, ct) is not { } payment)
            return false;
        Payment = payment;
        CustomerEmail = payment.UserId is { } userId ? (await directory.FindAsync(userId, ct))?.Email ?? userId : null;
        return true;
    }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct))
            return NotFound();
        Input = new RefundInput { Token = Guid.NewGuid().ToString("N") };
        return Page();
    }

    private bool Valid()
    {
        if (string.IsNullOrWhiteSpace(Input.Reason))
            ModelState.AddModelError("Input.Reason", "Say why: the reason goes into the audit log.");
        AmountMinor = null;
        if (!string.IsNullOrWhiteSpace(Input.Amount))
        {
            if (ParseMinor(Input.Amount, Payment!.Currency) is { } minor and > 0)
                AmountMinor = minor;
            else
                ModelState.AddModelError("Input.Amount",
                    $"Enter an amount in {Payment!.Currency.ToUpperInvariant()} with at most {Shared.Money.Decimals(Payment.Currency)} decimals, more than zero, or leave it empty to refund all that remains.");
        }
        if (!Payment!.IsRefundable)
            ModelState.AddModelError("", "This payment took no money that can be given back.");
        else if (AmountMinor > Payment.RemainingMinor || Payment.RemainingMinor == 0)
            ModelState.AddModelError("Input.Amount", Payment.RemainingMinor == 0
                ? "This payment has already been refunded in full; nothing was refunded."
                : $"That is more than remains of this payment ({Money(Payment.RemainingMinor)} of {Money(Payment.AmountMinor)}); nothing was refunded.");
        return ModelState.IsValid;
    }

    /// <summary>"2.5" in a two-decimal currency is 250; more decimals than the currency has, or anything not a number, is null.</summary>
    public static long? ParseMinor(string text, string currency)
    {
        if (!decimal.TryParse(text.Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var major))
            return null;
        var minor = major * (decimal)Math.Pow(10, Shared.Money.Decimals(currency));
        return minor == decimal.Truncate(minor) && minor <= long.MaxValue ? (long)minor : null;
    }

    /// <summary>The confirmation step: nothing changes yet.</summary>
    public async Task<IActionResult> OnPostReviewAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct))
            return NotFound();
        Confirming = Valid();
        return Page();
    }

    public async Task<IActionResult> OnPostRefundAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct))
            return NotFound();
        var actor = AuditActor.From(User);
        var valid = Valid();
        // A second submit of a confirmed form (a double click, a resent form, a second tab) is answered from the first
        // refund, even though the payment now has less (or nothing) left to refund.
        if (!valid && !(ModelState["Input.Token"]?.Errors.Count is null or 0 && !string.IsNullOrWhiteSpace(Input.Reason)
                        && await refunds.WasMadeAsync(Reference(actor), ct)))
            return Page();
        ModelState.Clear();
        var outcome = await refunds.RefundAsync(actor, Payment!.Id, AmountMinor, Input.Reason!, Reference(actor), ct);
        switch (outcome.Status)
        {
            case RefundStatus.Refunded:
            case RefundStatus.Replayed:
                var r = outcome.Result!;
                TempData["StatusMessage"] = (outcome.Status == RefundStatus.Replayed ? "This refund was already made; nothing was refunded again. " : "") +
                    $"Refunded {Shared.Money.Format(r.Amount, r.Currency)} of {Payment.PublicId} ({r.RefundId})" +
                    (r.CreditsTakenBack > 0 ? $"; {r.CreditsTakenBack} credit(s) taken back" : "") +
                    $". Refunded in all: {Shared.Money.Format(r.RefundedTotal, r.Currency)} of {Shared.Money.Format(r.PaymentAmount, r.Currency)}.";
                return Payment.UserId is { } userId ? Redirect($"/admin/customers/{Uri.EscapeDataString(userId)}") : RedirectToPage();
            case RefundStatus.StripeUnavailable:
                StripeUnavailable = true;
                Confirming = true;
                Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return Page();
            case RefundStatus.Conflict:
                ModelState.AddModelError("", "This form was already used for a different refund. Nothing was refunded; reload the page to make another.");
                return Page();
            default:
                ModelState.AddModelError("Input.Amount", outcome.Message ?? "Nothing was refunded.");
                await LoadAsync(ct);
                return Page();
        }
    }

    private string Reference(AuditActor actor) => $"admin-page:{actor.Id}:{Input.Token}";
}
