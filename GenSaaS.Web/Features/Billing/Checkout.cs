using GenSaaS.Web.Features.Plans;
using System.Security.Claims;
using System.Text.Json;
using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.Antiforgery;
using Stripe.Checkout;

namespace GenSaaS.Web.Features.Billing;

/// <summary>Starts Stripe Checkout for a plan: payment mode for bundles, subscription mode for the monthly plan, setup mode to save a card.</summary>
public sealed class Checkout(Data.Db db, StripeGateway stripe, StripePrices prices, CheckoutSessions sessions, BillingAccounts accounts, PlanCatalog plans, BillingModeInfo mode, PurchaseFlags flags,
    Microsoft.Extensions.Options.IOptions<BillingOptions> options, Microsoft.Extensions.Options.IOptions<Data.AppOptions> app, ILogger<Checkout> logger)
{
    public sealed record Input(string? Plan);

    /// <summary>
    /// Opens a Checkout Session for the plan. <paramref name="next"/> names a page the success page links on to once the
    /// purchase is confirmed (see <see cref="Success.NextPages"/>), e.g. back to the pay-per-use switch after a card is saved.
    /// </summary>
    public async Task<Session> StartAsync(string userId, string email, string planKey, string appBase, CancellationToken ct, string? next = null)
    {
        if (!mode.IsEnabled)
            throw new BillingDisabledException();
        var plan = plans.Get(planKey);
        if (await flags.RefusalAsync(userId, plan.Kind) is { } refused)
            throw new PurchaseUnavailableException(refused);
        if (plan.Kind == PlanKind.Subscription && await LiveSubscriptionAsync(userId, ct) is { } live)
            throw new AlreadySubscribedException(live);
        var customer = await accounts.EnsureCustomerAsync(userId, email, ct);
        var baseUrl = (options.Value.PublicBaseUrl is { Length: > 0 } configured ? configured
            : app.Value.PublicBaseUrl is { Length: > 0 } appConfigured ? appConfigured
            : appBase).TrimEnd('/');
        var metadata = new Dictionary<string, string> { ["user_id"] = userId, ["plan_key"] = planKey };
        var create = new SessionCreateOptions
        {
            Customer = customer.StripeCustomerId,
            ClientReferenceId = userId,
            Metadata = metadata,
            SuccessUrl = baseUrl + "/billing/success?session_id={CHECKOUT_SESSION_ID}" + (next is not null && Success.NextPages.ContainsKey(next) ? "&next=" + next : ""),
            CancelUrl = baseUrl + "/billing/cancel",
        };
        switch (plan.Kind)
        {
            case PlanKind.Bundle:
                create.Mode = "payment";
                create.LineItems = [new SessionLineItemOptions { Price = await prices.PriceIdAsync(planKey, ct), Quantity = 1 }];
                create.PaymentIntentData = new SessionPaymentIntentDataOptions { Metadata = metadata };
                create.AllowedPaymentMethodTypes = options.Value.CheckoutPaymentMethodTypes;
                break;
            case PlanKind.Subscription:
                create.Mode = "subscription";
                create.LineItems = [new SessionLineItemOptions { Price = await prices.PriceIdAsync(planKey, ct), Quantity = 1 }];
                create.SubscriptionData = new SessionSubscriptionDataOptions { Metadata = metadata };
                create.AllowedPaymentMethodTypes = options.Value.CheckoutPaymentMethodTypes;
                break;
            default:
                // Stripe refuses automatic_tax in setup mode, and a saved card is no sale: nothing to tax here.
                create.Mode = "setup";
                create.Currency = plan.Currency;
                create.AllowedPaymentMethodTypes = ["card"];
                create.SetupIntentData = new SessionSetupIntentDataOptions { Metadata = metadata };
                break;
        }
        if (options.Value.Tax && create.Mode is "payment" or "subscription")
            AddAutomaticTax(create);
        var session = await stripe.CreateCheckoutSessionAsync(create, $"checkout:{userId}:{Guid.NewGuid():N}", ct);
        await sessions.RecordAsync(session.Id, userId, create.Mode, planKey, ct);
        logger.LogInformation(BillingLogEvents.CheckoutStarted, "Checkout session {SessionId} ({Mode}) for {UserId}, plan {PlanKey}", session.Id, create.Mode, userId, planKey);
        return create.Mode == "subscription" ? await KeepOnlyNewestAsync(userId, session, ct) : session;
    }

    private const string LiveSubscriptionSql = """
        SELECT stripe_subscription_id FROM subscriptions WHERE user_id = @userId AND status IN @statuses LIMIT 1;
        """;

    /// <summary>The customer's live subscription as the webhooks last told us, or null.</summary>
    private async Task<string?> LiveSubscriptionAsync(string userId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await Dapper.SqlMapper.QueryFirstOrDefaultAsync<string>(connection,
            new Dapper.CommandDefinition(LiveSubscriptionSql, new { userId, statuses = LiveSubscriptions.Statuses }, cancellationToken: ct));
    }

    /// <summary>
    /// Two tabs or a double click: of the customer's open subscription Checkout Sessions only the newest stays payable; the
    /// older ones are expired at Stripe, and every request answers with the newest, so both tabs land on the same page. The
    /// request that records its session last sees all of them (recording is serialised), so no two stay open.
    /// </summary>
    private async Task<Session> KeepOnlyNewestAsync(string userId, Session mine, CancellationToken ct)
    {
        var pending = await sessions.PendingSubscriptionSessionsAsync(userId, ct);
        foreach (var older in pending.Skip(1))
        {
            try
            {
                await stripe.ExpireCheckoutSessionAsync(older, ct);
                await sessions.SetStateAsync(older, CheckoutSessions.State.Expired, ct);
                logger.LogInformation("Checkout session {SessionId} of {UserId} expired: a newer subscription checkout replaced it", older, userId);
            }
            catch (Stripe.StripeException ex) when (ex.StripeError?.Type == "invalid_request_error")
            {
                // No longer open: paid (the webhook fulfils it, and a second subscription is canceled there) or already expired.
                var status = (await stripe.GetCheckoutSessionAsync(older, ct)).Status;
                if (status is "complete" or "expired")
                    await sessions.SetStateAsync(older, status == "complete" ? CheckoutSessions.State.Complete : CheckoutSessions.State.Expired, ct);
            }
        }
        if (pending.Count == 0 || pending[0] == mine.Id)
            return mine;
        var newest = await stripe.GetCheckoutSessionAsync(pending[0], ct);
        return newest.Status == "open" ? newest : mine;
    }

    /// <summary>
    /// Stripe Tax as Stripe's Checkout guide asks for an existing customer: tax computed from the customer's location, a full
    /// billing address collected and saved onto the customer (Stripe refuses the session for a customer without an address
    /// otherwise), and business tax IDs collected, which for an existing customer Stripe allows only when Checkout may save
    /// the business name onto them.
    /// </summary>
    private static void AddAutomaticTax(SessionCreateOptions create)
    {
        create.AutomaticTax = new SessionAutomaticTaxOptions { Enabled = true };
        create.BillingAddressCollection = "required";
        create.CustomerUpdate = new SessionCustomerUpdateOptions { Address = "auto", Name = "auto" };
        create.TaxIdCollection = new SessionTaxIdCollectionOptions { Enabled = true };
    }

    /// <summary>
    /// <c>POST /api/billing/checkout</c>. A form post (antiforgery checked) gets a 303 to Checkout, htmx gets <c>HX-Redirect</c>,
    /// a JSON body gets <c>{ id, url }</c>.
    /// </summary>
    public static async Task<IResult> HandleAsync(HttpContext http, Checkout checkout, IAntiforgery antiforgery, PlanCatalog plans, BillingModeInfo mode, CancellationToken ct)
    {
        var request = http.Request;
        string? planKey;
        var isForm = request.HasFormContentType;
        if (isForm)
        {
            try
            {
                await antiforgery.ValidateRequestAsync(http);
            }
            catch (AntiforgeryValidationException)
            {
                return Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, "The form has expired; reload the page and try again.");
            }
            planKey = (await request.ReadFormAsync(ct))["plan"].ToString();
        }
        else
        {
            try
            {
                planKey = (await request.ReadFromJsonAsync<Input>(ct))?.Plan;
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                return Problems.Validation("plan", "Send a form field or a JSON body with 'plan'.");
            }
        }

        if (!mode.IsEnabled)
            return Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.BillingDisabled, "Billing is not configured on this server.",
                "Purchases are not available; trial and granted credits still work.");
        if (string.IsNullOrWhiteSpace(planKey) || plans.Find(planKey) is null)
            return Problems.Validation("plan", $"Choose one of: {string.Join(", ", plans.Plans.Keys)}.");

        var user = http.User;
        var userId = user.FindFirstValue(ClaimTypes.NameIdentifier)!;
        var email = user.FindFirstValue(ClaimTypes.Email) ?? user.Identity?.Name ?? "";
        Session session;
        try
        {
            session = await checkout.StartAsync(userId, email, planKey, $"{request.Scheme}://{request.Host}", ct);
        }
        catch (PurchaseUnavailableException refused)
        {
            http.Response.Headers.Vary = "HX-Request";
            const string page = "/billing?checkout=not_available";
            if (request.Headers.ContainsKey("HX-Request"))
            {
                http.Response.Headers["HX-Redirect"] = page;
                return Results.Ok();
            }
            if (isForm)
                return new SeeOther(page);
            return Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.BillingDisabled, refused.Message);
        }
        catch (AlreadySubscribedException)
        {
            http.Response.Headers.Vary = "HX-Request";
            const string page = "/billing?checkout=already_subscribed";
            if (request.Headers.ContainsKey("HX-Request"))
            {
                http.Response.Headers["HX-Redirect"] = page;
                return Results.Ok();
            }
            if (isForm)
                return new SeeOther(page);
            var problem = Problems.Create(StatusCodes.Status409Conflict, ProblemCodes.AlreadySubscribed, "You already have a subscription.",
                "Nothing was charged. Change or cancel your plan in the billing portal (POST manage_url) or on the billing page.");
            problem.Extensions["manage_url"] = PortalPath;
            problem.Extensions["billing_url"] = "/billing";
            return Results.Problem(problem);
        }
        catch (Exception ex) when (ex is Stripe.StripeException or HttpRequestException
                                   || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            // Stripe refused the session (the account is not set up for what the app asks, e.g. Stripe Tax not active) or could
            // not be reached. Nothing was charged or granted; the customer gets a page that says so, the operator Stripe's words.
            var code = (ex as Stripe.StripeException)?.StripeError?.Code;
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(Checkout))
                .LogError(BillingLogEvents.CheckoutFailed, ex, "Checkout for plan {PlanKey} could not be started for {UserId}: {StripeCode} {Reason}",
                    planKey, userId, code, ex.Message);
            http.Response.Headers.Vary = "HX-Request";
            const string page = "/billing?checkout=unavailable";
            if (request.Headers.ContainsKey("HX-Request"))
            {
                http.Response.Headers["HX-Redirect"] = page;
                return Results.Ok();
            }
            return isForm
                ? new SeeOther(page)
                : Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.CheckoutUnavailable,
                    "Checkout cannot be started right now.", "Nothing was charged. Try again later; if it keeps failing, the operator has been told why.");
        }

        http.Response.Headers.Vary = "HX-Request";
        if (request.Headers.ContainsKey("HX-Request"))
        {
            http.Response.Headers["HX-Redirect"] = session.Url;
            return Results.Ok();
        }
        return isForm ? new SeeOther(session.Url) : Results.Ok(new { id = session.Id, url = session.Url });
    }

    /// <summary>The portal route: a POST opens Stripe's customer portal for the signed-in customer.</summary>
    public const string PortalPath = "/api/billing/portal";

    /// <summary>
    /// <c>POST /api/billing/portal</c>: Stripe's customer portal, to change the card or cancel the monthly plan. Same answers
    /// as checkout: 303 for the form, <c>HX-Redirect</c> for htmx, <c>{ url }</c> for JSON.
    /// </summary>
    public static async Task<IResult> PortalAsync(HttpContext http, StripeGateway stripe, BillingAccounts accounts, IAntiforgery antiforgery, BillingModeInfo mode,
        Microsoft.Extensions.Options.IOptions<BillingOptions> options, Microsoft.Extensions.Options.IOptions<Data.AppOptions> app, StripeAccountSetup account, CancellationToken ct)
    {
        var request = http.Request;
        if (request.HasFormContentType)
        {
            try
            {
                await antiforgery.ValidateRequestAsync(http);
            }
            catch (AntiforgeryValidationException)
            {
                return Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.ValidationFailed, "The form has expired; reload the page and try again.");
            }
        }
        if (!mode.IsEnabled)
            return Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.BillingDisabled, "Billing is not configured on this server.");
        var customer = await accounts.FindAsync(http.User.FindFirstValue(ClaimTypes.NameIdentifier)!, ct);
        if (customer is null)
            return Problems.Result(StatusCodes.Status404NotFound, ProblemCodes.NotFound, "There is nothing to manage yet: choose a plan first.");

        var baseUrl = (options.Value.PublicBaseUrl is { Length: > 0 } configured ? configured
            : app.Value.PublicBaseUrl is { Length: > 0 } appConfigured ? appConfigured
            : $"{request.Scheme}://{request.Host}").TrimEnd('/');
        Stripe.BillingPortal.Session portal;
        try
        {
            await account.EnsurePortalConfigurationAsync(ct);
            portal = await stripe.CreatePortalSessionAsync(customer.StripeCustomerId, baseUrl + Index.ReturnFromPortalUrl, http.TraceIdentifier, ct);
        }
        catch (Exception ex) when (ex is Stripe.StripeException or HttpRequestException
                                   || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            // Most often the portal is not configured at Stripe (run `stripe sync`), or Stripe is unreachable. The customer
            // gets a page that says so; the operator gets Stripe's words in the log.
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(Checkout))
                .LogWarning(ex, "The billing portal could not be opened for customer {CustomerId}: {Reason}", customer.StripeCustomerId, ex.Message);
            http.Response.Headers.Vary = "HX-Request";
            const string page = "/billing?portal=unavailable";
            if (request.Headers.ContainsKey("HX-Request"))
            {
                http.Response.Headers["HX-Redirect"] = page;
                return Results.Ok();
            }
            return request.HasFormContentType
                ? new SeeOther(page)
                : Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.PortalUnavailable,
                    "The billing portal cannot be opened right now.", "Try again in a few minutes; nothing about your plan or card has changed.");
        }
        http.Response.Headers.Vary = "HX-Request";
        if (request.Headers.ContainsKey("HX-Request"))
        {
            http.Response.Headers["HX-Redirect"] = portal.Url;
            return Results.Ok();
        }
        return request.HasFormContentType ? new SeeOther(portal.Url) : Results.Ok(new { url = portal.Url });
    }

    /// <summary>303 See Other: the browser follows with a GET.</summary>
    private sealed class SeeOther(string url) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.StatusCode = StatusCodes.Status303SeeOther;
            http.Response.Headers.Location = url;
            return Task.CompletedTask;
        }
    }
}
