using System.Security.Claims;
using GenSaaS.Web.Features.Billing.Webhooks;
using Htmx;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Billing;

/// <summary>
/// Where Checkout sends the customer back. Fulfilment comes from the webhook; as Stripe recommends, this page also
/// retrieves the session and runs the same idempotent fulfilment, so the balance is right even if the webhook is late.
/// </summary>
[Authorize]
public sealed class Success(StripeGateway stripe, StripeEventApplier applier, BillingOverview overview, TimeProvider clock, ILogger<Success> logger) : PageModel
{
    [BindProperty(SupportsGet = true, Name = "session_id")]
    public string? SessionId { get; set; }

    /// <summary>Where the status partial polls while the purchase is not confirmed yet.</summary>
    public string? PollUrl => Confirmed ? null : $"/billing/success?session_id={Uri.EscapeDataString(SessionId ?? "")}";

    public bool Confirmed { get; private set; }

    public BillingStatus Status { get; private set; } = new(0, 0, null, null, false, null, null);

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        var userId = User.FindFirstValue(ClaimTypes.NameIdentifier)!;
        if (SessionId is { Length: > 0 } && await overview.IsFulfilledAsync(SessionId, userId, ct))
        {
            Confirmed = true;
        }
        else if (SessionId is { Length: > 0 })
        {
            try
            {
                var session = await stripe.GetCheckoutSessionAsync(SessionId, ct);
                if (session.Metadata?.GetValueOrDefault("user_id") == userId && session.Status == "complete")
                {
                    await applier.ApplyCheckoutSessionAsync(session, clock.GetUtcNow().ToUnixTimeSeconds(), $"success-page:{session.Id}", ct);
                    Confirmed = true;
                }
            }
            catch (Exception ex) when (ex is Stripe.StripeException or WebhookNotReadyException or BillingDisabledException)
            {
                logger.LogInformation(ex, "Success page could not confirm checkout session {SessionId} yet", SessionId);
            }
        }
        Status = await overview.StatusAsync(userId, ct);
        Response.Headers.Vary = "HX-Request";
        return Request.IsHtmx() ? Partial("_SuccessStatus", this) : Page();
    }
}
