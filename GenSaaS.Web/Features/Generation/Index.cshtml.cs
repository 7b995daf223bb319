using System.ComponentModel.DataAnnotations;
using Htmx;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Features.Generation;

[Authorize]
[Microsoft.AspNetCore.RateLimiting.EnableRateLimiting(GenerationRateLimit.Policy)]
public sealed class Index(GenerationService generations, GenerationStore store, ImageStore images,
    Microsoft.Extensions.Options.IOptions<GenerationOptions> options) : PageModel
{
    /// <summary>The page handler of the history's delete form (<c>?handler=Delete</c>); it starts no generation.</summary>
    public const string DeleteHandler = "Delete";

    public const string DeletedMessage = "Image deleted. The credit it used stays spent: deleting an image does not refund it.";

    public sealed record InputModel
    {
        [Display(Name = "Prompt")]
        public string? Prompt { get; init; }

        /// <summary>A fresh key per form render, so a double submit charges once.</summary>
        public string? IdempotencyKey { get; init; }
    }

    /// <summary>What the customer can do about an error: a link, or (<paramref name="Post"/>) a button that posts, with antiforgery, to <paramref name="Url"/>.</summary>
    public sealed record ErrorLink(string Label, string Url, bool Post = false);

    /// <summary>The history shown: one page, and the generation it starts after (null for the newest).</summary>
    public sealed record HistoryView(GenerationList Page, string? StartingAfter, string? Notice = null);

    [BindProperty]
    public InputModel Input { get; set; } = new();

    [TempData]
    public string? StatusMessage { get; set; }

    public GenerationRecord? Result { get; private set; }

    public string? ErrorMessage { get; private set; }

    public ErrorLink? ErrorAction { get; private set; }

    public string? Warning { get; private set; }

    /// <summary>Set on htmx answers, which also carry the new idempotency key and the header's credits out of band.</summary>
    public bool RefreshHeader { get; private set; }

    public HistoryView History { get; private set; } = new(GenerationList.Empty, null);

    /// <summary>The operator's message while generation is turned off (the <c>generation</c> flag), else null.</summary>
    public string? Paused { get; private set; }

    public async Task<IActionResult> OnGetAsync([FromQuery(Name = "starting_after")] string? startingAfter, string? show, CancellationToken ct)
    {
        Input = new InputModel { IdempotencyKey = NewKey() };
        var userId = GenerationApi.UserId(User);
        Paused = await generations.PausedAsync(userId, ct);
        if (show is not null && await store.GetAsync(show, ct) is { } shown && shown.UserId == userId)
            Result = shown;
        History = await HistoryAsync(userId, startingAfter, ct);
        Response.Headers.Vary = "HX-Request";
        // The "Older" link asks htmx for the history alone; without JavaScript it loads the whole page.
        if (Request.IsHtmx() && string.Equals(Request.Headers["HX-Target"], "generation-history", StringComparison.Ordinal))
            return Partial("_History", History);
        return Page();
    }

    /// <summary>
    /// A page of the history. A cursor that is not (or no longer) one of the customer's images — deleted in another tab, or
    /// a link from someone else — shows the newest page with a note, rather than an error page.
    /// </summary>
    private async Task<HistoryView> HistoryAsync(string userId, string? startingAfter, CancellationToken ct)
    {
        var after = string.IsNullOrEmpty(startingAfter) ? null : startingAfter;
        if (await store.ListAsync(userId, options.Value.PageSize, after, ct) is { } page)
            return new HistoryView(page, after);
        return new HistoryView(await store.ListAsync(userId, options.Value.PageSize, null, ct) ?? GenerationList.Empty, null,
            "That page of your history is no longer there (the image it started after was deleted); showing your newest images.");
    }

    /// <summary>Deletes one of the customer's images (someone else's id answers 404, like an unknown one) and comes back to the same page.</summary>
    public async Task<IActionResult> OnPostDeleteAsync(string? id, [FromQuery(Name = "starting_after")] string? startingAfter, CancellationToken ct)
    {
        var userId = GenerationApi.UserId(User);
        if (string.IsNullOrEmpty(id) || !await store.DeleteAsync(userId, id, ct))
            return NotFound();
        images.Delete(userId, id);
        StatusMessage = DeletedMessage;
        return RedirectToPage(new { starting_after = string.IsNullOrEmpty(startingAfter) ? null : startingAfter });
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        var userId = GenerationApi.UserId(User);
        var outcome = await generations.GenerateAsync(userId, Input.Prompt, seed: null, Input.IdempotencyKey, ct);

        if (outcome.Generation is { } generation && !Request.IsHtmx())
            return RedirectToPage(new { show = generation.Id });

        Result = outcome.Generation;
        Warning = outcome.Warning;
        if (!outcome.Succeeded)
        {
            if (outcome.Field is not null)
                ModelState.AddModelError("Input.Prompt", outcome.ErrorMessage!);
            ErrorMessage = outcome.ErrorMessage;
            ErrorAction = outcome.ErrorCode switch
            {
                ProblemCodes.InsufficientCredits => new ErrorLink("Buy credits or choose a plan", "/billing"),
                ProblemCodes.SubscriptionInactive or ProblemCodes.PaymentFailed => new ErrorLink("Update your card", "/api/billing/portal", Post: true),
                _ => null,
            };
            // Billing is dark for this customer (feature flags): /billing offers nothing to buy, so the page does not send them there.
            if (outcome.ErrorMessage == GenerationService.NothingToBuy)
                ErrorAction = null;
            if (outcome.Status >= 400 && outcome.Field is null)
                Response.StatusCode = outcome.Status;
        }

        Response.Headers.Vary = "HX-Request";
        if (Request.IsHtmx())
        {
            // A new key for the next submit; the old one stays bound to this request (a retry with it would replay a decline).
            Input = Input with { IdempotencyKey = NewKey() };
            Response.Headers["HX-Reswap"] = "innerHTML";
            if (!outcome.Succeeded)
            {
                // An error answer goes into the result area as it is (site.js), out-of-band parts and all: it carries only
                // the error. Credits and history have not moved; the form's next key comes as an event site.js applies.
                Response.Headers["HX-Trigger"] = System.Text.Json.JsonSerializer.Serialize(
                    new Dictionary<string, string> { [NewKeyEvent] = Input.IdempotencyKey! });
                return Partial("_Result", this);
            }
            RefreshHeader = true;
            // The history below the form would otherwise still say "Nothing yet" beside the new image.
            History = await HistoryAsync(userId, null, ct);
            return Partial("_Result", this);
        }

        Input = Input with { IdempotencyKey = NewKey() };
        History = await HistoryAsync(userId, null, ct);
        return Page();
    }

    /// <summary>The htmx event (<c>HX-Trigger</c>) that hands the form its next idempotency key after an error answer.</summary>
    public const string NewKeyEvent = "gensaas:idempotency-key";

    private static string NewKey() => Guid.CreateVersion7().ToString("N");
}
