using GenSaaS.Web.Features.Generation;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary>
/// <c>/generate/{id}/receipt</c>: how one image was paid for, step by step — the image, the usage that metered it, the ledger
/// line that took its credit, and the Stripe charge or refund behind it. Another customer's image is 404, as an unknown one.
/// </summary>
[Authorize]
public sealed class Receipt(GenerationReceipts receipts) : PageModel
{
    public GenerationReceipt Model { get; private set; } = null!;

    public async Task<IActionResult> OnGetAsync(string id, CancellationToken ct)
    {
        if (await receipts.GetAsync(GenerationApi.UserId(User), id, ct) is not { } receipt)
            return NotFound();
        Model = receipt;
        return Page();
    }

    public static string Funding(string source) => source switch
    {
        "trial" => "free trial credits",
        "prepaid" => "prepaid credits",
        "subscription" => "your monthly plan",
        "pay_per_use" => "your saved card (pay per use)",
        _ => source,
    };
}
