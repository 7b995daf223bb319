using System.ComponentModel.DataAnnotations;
using Htmx;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Features.Generation;

[Authorize]
[Microsoft.AspNetCore.RateLimiting.EnableRateLimiting(GenerationRateLimit.Policy)]
public sealed class Index(GenerationService generations, GenerationStore store, Microsoft.Extensions.Options.IOptions<GenerationOptions> options) : PageModel
{
    public sealed record InputModel
    {
        [Display(Name = "Prompt")]
        public string? Prompt { get; init; }

        /// <summary>A fresh key per form render, so a double submit charges once.</summary>
        public string? IdempotencyKey { get; init; }
    }

    /// <summary>What the customer can do about an error: a link, or (<paramref name="Post"/>) a button that posts, with antiforgery, to <paramref name="Url"/>.</summary>
    public sealed record ErrorLink(string Label, string Url, bool Post = false);

    [BindProperty]
    public InputModel Input { get; set; } = new();

    public GenerationRecord? Result { get; private set; }

    public string? ErrorMessage { get; private set; }

    public ErrorLink? ErrorAction { get; private set; }

    public string? Warning { get; private set; }

    /// <summary>Set on htmx answers, which also carry the new idempotency key and the header's credits out of band.</summary>
    public bool RefreshHeader { get; private set; }

    public GenerationPage History { get; private set; } = new([], 1, 1, 0);

    public async Task OnGetAsync(int? page, string? show, CancellationToken ct)
    {
        Input = new InputModel { IdempotencyKey = NewKey() };
        var userId = GenerationApi.UserId(User);
        if (show is not null && await store.GetAsync(show, ct) is { } shown && shown.UserId == userId)
            Result = shown;
        History = await store.ListAsync(userId, page ?? 1, options.Value.PageSize, ct);
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
            History = await store.ListAsync(userId, 1, options.Value.PageSize, ct);
            return Partial("_Result", this);
        }

        Input = Input with { IdempotencyKey = NewKey() };
        History = await store.ListAsync(userId, 1, options.Value.PageSize, ct);
        return Page();
    }

    /// <summary>The htmx event (<c>HX-Trigger</c>) that hands the form its next idempotency key after an error answer.</summary>
    public const string NewKeyEvent = "gensaas:idempotency-key";

    private static string NewKey() => Guid.CreateVersion7().ToString("N");
}
