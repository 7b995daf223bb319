using Microsoft.AspNetCore.Mvc;

namespace GenSaaS.Web.Features.Shared;

/// <summary>The stable error codes of the JSON API; clients switch on <c>code</c>, never on the title.</summary>
public static class ProblemCodes
{
    public const string Unauthenticated = "unauthenticated";
    public const string Forbidden = "forbidden";
    public const string InsufficientScope = "insufficient_scope";
    public const string NotFound = "not_found";
    public const string InsufficientCredits = "insufficient_credits";
    public const string PaymentRequired = "payment_required";
    public const string PaymentFailed = "payment_failed";
    public const string SubscriptionInactive = "subscription_inactive";
    public const string FairUseLimit = "fair_use_limit";
    public const string RateLimited = "rate_limited";
    public const string ValidationFailed = "validation_failed";
    public const string BillingDisabled = "billing_disabled";
    public const string IdempotencyConflict = "idempotency_conflict";
    public const string GenerationFailed = "generation_failed";
    public const string BadRequest = "bad_request";
    public const string InternalError = "internal_error";
    public const string AntiforgeryFailed = "antiforgery_failed";
    /// <summary>Stripe's customer portal could not be opened (not configured at Stripe, or Stripe unreachable).</summary>
    public const string PortalUnavailable = "portal_unavailable";
    /// <summary>Stripe did not answer the pay-per-use authorisation (timeout, 429, 5xx): nothing was charged; try again.</summary>
    public const string PaymentUnavailable = "payment_unavailable";
    /// <summary>Stripe could not be reached to read what a request needs (e.g. the object of a webhook event in another API version); try again later.</summary>
    public const string StripeUnavailable = "stripe_unavailable";
    /// <summary>Stripe refused or did not answer the Checkout Session (e.g. Stripe Tax not active on the account): nothing was charged.</summary>
    public const string CheckoutUnavailable = "checkout_unavailable";
    /// <summary>The address exists but does not take this HTTP method; the <c>Allow</c> header lists the ones it takes.</summary>
    public const string MethodNotAllowed = "method_not_allowed";
    /// <summary>A list's <c>starting_after</c> names no object of the caller's (unknown, deleted or someone else's), as Stripe answers it.</summary>
    public const string ResourceMissing = "resource_missing";
    /// <summary>A query parameter the endpoint does not take (e.g. <c>page</c> on a cursor-paged list).</summary>
    public const string ParameterUnknown = "parameter_unknown";
    /// <summary>A replayed Idempotency-Key whose image the customer has since deleted: nothing is made or charged again.</summary>
    public const string GenerationDeleted = "generation_deleted";
    /// <summary>A pay-per-use generation would take the month's spend above the cap the customer set; nothing was charged.</summary>
    public const string SpendLimitReached = "spend_limit_reached";
    /// <summary>The customer already has a live subscription (any status but canceled or incomplete_expired): a second one is refused; <c>manage_url</c> opens the portal.</summary>
    public const string AlreadySubscribed = "already_subscribed";
    /// <summary>Auto top-up needs a saved card to charge; save one on /billing first.</summary>
    public const string NoSavedCard = "no_saved_card";
    /// <summary>The customer has no subscription to cancel or resume (never had one, or only ever checked out without paying).</summary>
    public const string NoSubscription = "no_subscription";
    /// <summary>The plan is already set to end at the end of its period: nothing changed.</summary>
    public const string AlreadyCanceling = "already_canceling";
    /// <summary>The plan is not set to end, so there is nothing to resume: nothing changed.</summary>
    public const string NotCanceling = "not_canceling";
    /// <summary>The subscription has already ended (canceled or expired at Stripe): it cannot be canceled or resumed; subscribe again.</summary>
    public const string SubscriptionEnded = "subscription_ended";
    /// <summary>An admin refund of more than remains of the payment (or of one already refunded in full): nothing was refunded.</summary>
    public const string RefundTooLarge = "refund_too_large";
    /// <summary>An admin refund of a payment that took no money (a hold, an unpaid bundle, a refund), or one Stripe refuses to refund: nothing was refunded.</summary>
    public const string NotRefundable = "not_refundable";
    /// <summary>The feature flag named in the path does not exist (<c>GET /api/v1/admin/flags</c> lists them).</summary>
    public const string UnknownFlag = "unknown_flag";
    /// <summary>The operator turned generation off (the <c>generation</c> flag): the detail is their message; nothing was charged.</summary>
    public const string GenerationDisabled = "generation_disabled";
    /// <summary>An admin tried to lock their own account or revoke their own admin role: refused, nothing changed; another admin must do it.</summary>
    public const string OwnAccount = "own_account";
    /// <summary>Locking or demoting this admin would leave no admin who can act: refused, nothing changed; make another admin first.</summary>
    public const string LastAdmin = "last_admin";
    /// <summary>A browser session whose user has not accepted the current terms or privacy policy; accept at <c>/legal/accept</c> (API keys are not refused).</summary>
    public const string TermsNotAccepted = "terms_not_accepted";
}

/// <summary><c>application/problem+json</c> answers carrying a stable <c>code</c>.</summary>
public static class Problems
{
    public static ProblemDetails Create(int status, string code, string title, string? detail = null, IDictionary<string, string[]>? errors = null)
    {
        var problem = errors is null
            ? new ProblemDetails()
            : new ValidationProblemDetails(errors);
        problem.Status = status;
        problem.Title = title;
        problem.Detail = detail;
        problem.Type = $"https://gensaas.dev/problems/{code}";
        problem.Extensions["code"] = code;
        return problem;
    }

    public static IResult Result(int status, string code, string title, string? detail = null, IDictionary<string, string[]>? errors = null) =>
        Microsoft.AspNetCore.Http.Results.Problem(Create(status, code, title, detail, errors));

    public static IResult Validation(string field, string message) =>
        Result(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, "The request is not valid.", message,
            new Dictionary<string, string[]> { [field] = [message] });

    public static async Task WriteAsync(HttpContext http, int status, string code, string title, string? detail = null)
    {
        http.Response.StatusCode = status;
        await http.Response.WriteAsJsonAsync(Create(status, code, title, detail), (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json");
    }

    public static bool IsApiRequest(HttpRequest request) => request.Path.StartsWithSegments("/api");
}
