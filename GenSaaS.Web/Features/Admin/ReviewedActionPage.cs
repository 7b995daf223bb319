using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// An admin page whose action is reviewed before it runs: <c>?handler=Review</c> checks the form and repeats it with a Confirm
/// button (nothing changes yet); the confirming handler checks it again (<see cref="ReadyAsync"/>) before it acts.
/// </summary>
public abstract class ReviewedActionPage : PageModel
{
    /// <summary>True on the confirmation step: the form's values are repeated with a Confirm button.</summary>
    public bool Confirming { get; protected set; }

    /// <summary>Reads what the page shows; false when there is no such customer or object.</summary>
    protected abstract Task<bool> LoadAsync(CancellationToken ct);

    /// <summary>Checks the posted form, adding a model error for each problem; true when it may run.</summary>
    protected abstract bool Valid();

    /// <summary>The confirmation step: nothing changes yet.</summary>
    public async Task<IActionResult> OnPostReviewAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct))
            return NotFound();
        Confirming = Valid();
        return Page();
    }

    /// <summary>Null when the confirmed action may run; otherwise the answer to give instead (404, or the page with its errors).</summary>
    protected async Task<IActionResult?> ReadyAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct))
            return NotFound();
        return Valid() ? null : Page();
    }
}
