using System.ComponentModel.DataAnnotations;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Credits;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// <c>/admin/customers/{id}</c>: balances, plan, card, API keys, recent ledger lines and the timeline of one account, and the
/// credit adjustment: the form (with a token made when the page is shown), a confirmation step that repeats what will happen,
/// then the adjustment. Submitting the confirmation twice (a double click, a resent form, a second tab) adjusts once: the
/// token is the adjustment's reference.
/// </summary>
[Authorize(Policy = Roles.Admin)]
public sealed class Customer(CustomerDetails details, CustomerTimeline timeline, CreditAdjustments adjustments, PaymentRefunds refunds, TimeProvider clock) : ReviewedActionPage
{
    public const int TimelinePageSize = 25;

    public sealed record AdjustInput
    {
        [Required(ErrorMessage = "Enter a number of credits: positive grants, negative takes back.")]
        [Range(-CreditAdjustments.MaxAmount, CreditAdjustments.MaxAmount, ErrorMessage = "Enter a whole number from -1000000 to 1000000.")]
        public int? Amount { get; init; }

        [Required(ErrorMessage = "Say why: the reason goes into the audit log and the customer's ledger.")]
        [StringLength(CreditAdjustments.MaxReasonLength, ErrorMessage = "Keep the reason under 500 characters.")]
        public string? Reason { get; init; }

        public string Bucket { get; init; } = "prepaid";

        [Required]
        [RegularExpression("^[0-9a-f]{32}$")]
        public string? Token { get; init; }
    }

    [BindProperty(SupportsGet = true, Name = "id")]
    public string Id { get; set; } = "";

    [BindProperty]
    public AdjustInput Adjust { get; set; } = new();

    [BindProperty(SupportsGet = true, Name = "timeline_after")]
    public string? TimelineAfter { get; set; }

    [TempData]
    public string? StatusMessage { get; set; }

    public CustomerDetail? Detail { get; private set; }

    public TimelinePage? Timeline { get; private set; }

    /// <summary>The newest payments that took money, each with what was refunded of it and a Refund link.</summary>
    public IReadOnlyList<RefundablePayment> Payments { get; private set; } = [];


    public DateTime Now { get; private set; }

    protected override async Task<bool> LoadAsync(CancellationToken ct)
    {
        Now = clock.GetUtcNow().UtcDateTime;
        Detail = await details.GetAsync(Id, ct);
        if (Detail is null)
            return false;
        Payments = await refunds.ListAsync(Id, ct);
        Timeline = await timeline.PageAsync(Id, TimelinePageSize, TimelineAfter, ct);
        if (Timeline is null)
        {
            ModelState.AddModelError(nameof(TimelineAfter), "That timeline page does not exist; showing the newest.");
            TimelineAfter = null;
            Timeline = await timeline.PageAsync(Id, TimelinePageSize, null, ct);
        }
        return true;
    }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct))
            return NotFound();
        Adjust = new AdjustInput { Token = Guid.NewGuid().ToString("N") };
        return Page();
    }

    protected override bool Valid()
    {
        if (Adjust.Amount == 0)
            ModelState.AddModelError("Adjust.Amount", "An adjustment moves at least one credit.");
        if (string.IsNullOrWhiteSpace(Adjust.Reason))
            ModelState.AddModelError("Adjust.Reason", "Say why: the reason goes into the audit log and the customer's ledger.");
        if (Adjust.Bucket is not ("prepaid" or "trial"))
            ModelState.AddModelError("Adjust.Bucket", "Choose prepaid or trial credits.");
        return ModelState.IsValid;
    }

    public async Task<IActionResult> OnPostAdjustAsync(CancellationToken ct)
    {
        if (await ReadyAsync(ct) is { } notReady)
            return notReady;
        var actor = AuditActor.From(User);
        var bucket = Adjust.Bucket == "trial" ? CreditBucket.Trial : CreditBucket.Prepaid;
        var outcome = await adjustments.AdjustAsync(actor, Id, bucket, Adjust.Amount!.Value, Adjust.Reason!, $"admin-page:{actor.Id}:{Adjust.Token}", ct);
        switch (outcome.Status)
        {
            case AdjustStatus.BelowZero:
                ModelState.AddModelError("Adjust.Amount", $"Nothing was taken back: {outcome.Message}");
                Confirming = false;
                return Page();
            case AdjustStatus.Conflict:
                ModelState.AddModelError("Adjust.Amount", "This form was already used for a different adjustment. Nothing changed; reload the page to make another.");
                return Page();
            case AdjustStatus.Replayed:
                StatusMessage = $"This adjustment was already made; nothing changed again. {CreditLedger.BucketName(bucket)} balance: {outcome.Balance}.";
                break;
            default:
                var amount = Adjust.Amount.Value;
                StatusMessage = $"{(amount > 0 ? "Granted" : "Took back")} {Math.Abs(amount)} {CreditLedger.BucketName(bucket)} credit(s). " +
                                $"{CreditLedger.BucketName(bucket)} balance: {outcome.Balance}.";
                break;
        }
        return RedirectToPage(new { id = Id });
    }
}
