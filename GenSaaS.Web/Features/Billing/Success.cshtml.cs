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
/// The <c>session_id</c> comes from the address bar, so Stripe is asked only about the signed-in customer's own pending
/// session (<see cref="CheckoutSessions"/>); any other id gets the same "not found" page without a call.
/// </summary>
[Authorize]
public sealed class Success(StripeGateway stripe, StripeEventApplier applier, BillingOverview overview, AccountSummaries summaries, CheckoutSessions sessions, TimeProvider clock, ILogger<Success> logger) : PageModel
{
    [BindProperty(SupportsGet = true, Name = "session_id")]
    public string? SessionId { get; set; }

    /// <summary>
    /// The pages a checkout may continue to (<c>next</c> in the return address), by name: only these, so the address bar cannot
    /// make this page link anywhere else.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, (string Url, string Label)> NextPages = new Dictionary<string, (string, string)>(StringComparer.Ordinal)
    {
        [PlanChange.SwitchToPayPerUse.Next] = (PlanChange.SwitchToPayPerUse.Path, "Continue switching to pay per use"),
    };

    [BindProperty(SupportsGet = true, Name = "next")]
    public string? Next { get; set; }

    /// <summary>The page to continue to once the purchase is confirmed, when the checkout named a known one.</summary>
    public (string Url, string Label)? ContinueTo => Next is not null && NextPages.TryGetValue(Next, out var page) ? page : null;

    /// <summary>Where the status partial polls while the purchase is not confirmed yet.</summary>
    public string? PollUrl => Confirmed || !Found || Expired || Failed ? null
        : $"/billing/success?session_id={Uri.EscapeDataString(SessionId ?? "")}" + (ContinueTo is not null ? "&next=" + Next : "");

    /// <summary>Paid with a delayed method (a bank debit): Checkout is complete but the bank has not confirmed; nothing is granted yet.</summary>
    public bool AwaitingBank { get; private set; }

    /// <summary>The delayed payment failed (<c>checkout.session.async_payment_failed</c>): nothing was granted.</summary>
    public bool Failed { get; private set; }

    public bool Confirmed { get; private set; }

    /// <summary>False when the id is not one of this customer's checkouts: the page says so and asks Stripe nothing.</summary>
    public bool Found { get; private set; } = true;

    /// <summary>The checkout ended without a purchase (Stripe expired it).</summary>
    public bool Expired { get; private set; }

    public AccountSummary Status { get; private set; } = null!;

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        var userId = User.FindFirstValue(ClaimTypes.NameIdentifier)!;
        var state = SessionId is null ? null : await sessions.StateAsync(SessionId, userId, ct);
        if (state is null)
        {
            Found = false;
            Response.StatusCode = StatusCodes.Status404NotFound;
        }
        else if (await overview.AsyncPaymentFailedAsync(SessionId!, userId, ct))
        {
            Failed = true;
        }
        else if (state == CheckoutSessions.State.Complete || await overview.IsFulfilledAsync(SessionId!, userId, ct))
        {
            Confirmed = true;
        }
        else if (state == CheckoutSessions.State.Expired)
        {
            Expired = true;
        }
        else
        {
            await LookUpAsync(SessionId!, userId, ct);
        }
        Status = await summaries.GetAsync(userId, ct);
        Response.Headers.Vary = "HX-Request";
        return Request.IsHtmx() ? Partial("_SuccessStatus", this) : Page();
    }

    private async Task LookUpAsync(string sessionId, string userId, CancellationToken ct)
    {
        try
        {
            var session = await stripe.GetCheckoutSessionAsync(sessionId, ct);
            if (session.Metadata?.GetValueOrDefault("user_id") != userId)
                return;
            if (session.Status == "complete")
            {
                await applier.ApplyCheckoutSessionAsync(session, clock.GetUtcNow().ToUnixTimeSeconds(), $"success-page:{session.Id}", ct);
                // A delayed payment method completes Checkout before the money moves: "pending" until Stripe says paid.
                if (session.PaymentStatus == "unpaid")
                {
                    AwaitingBank = true;
                    return;
                }
                await sessions.SetStateAsync(session.Id, CheckoutSessions.State.Complete, ct);
                Confirmed = true;
            }
            else if (session.Status == "expired")
            {
                await sessions.SetStateAsync(session.Id, CheckoutSessions.State.Expired, ct);
                Expired = true;
            }
        }
        catch (Exception ex) when (ex is Stripe.StripeException or WebhookNotReadyException or BillingDisabledException)
        {
            logger.LogInformation(ex, "Success page could not confirm checkout session {SessionId} yet", sessionId);
        }
    }
}
