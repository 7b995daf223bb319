using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Admin;

/// <summary>
/// <c>/admin/customers/{id}/actions</c>: the account actions of the customer page (confirm the email, lock, unlock, make or
/// revoke admin, revoke one or all API keys). The customer page's forms post here with a reason; this page repeats what will
/// happen with a Confirm button; confirming acts once (the account's state decides, so a second submit changes nothing) and
/// returns to the customer page with what happened. A refusal (an admin's own lock or role, the last admin) is shown here.
/// </summary>
[Authorize(Policy = Roles.Admin)]
public sealed class CustomerActions(CustomerDetails details, AccountActions actions, TimeProvider clock) : ReviewedActionPage
{
    public sealed record ActInput
    {
        public string? Action { get; init; }

        public string? Reason { get; init; }

        public string? KeyId { get; init; }
    }

    [BindProperty(SupportsGet = true, Name = "id")]
    public string Id { get; set; } = "";

    [BindProperty]
    public ActInput Act { get; set; } = new();

    public CustomerDetail? Detail { get; private set; }

    /// <summary>The action being reviewed or refused; null when the page just lists the actions.</summary>
    public AccountChange? Chosen { get; private set; }


    public DateTime Now { get; private set; }

    /// <summary>The name of the key chosen for revoking, for the confirmation.</summary>
    public ApiKeyRecord? Key => Act.KeyId is { } id ? Detail?.ApiKeys.FirstOrDefault(k => k.Id == id) : null;

    public string Who => Detail!.Customer.Email ?? Id;

    protected override async Task<bool> LoadAsync(CancellationToken ct)
    {
        Now = clock.GetUtcNow().UtcDateTime;
        Detail = await details.GetAsync(Id, ct);
        return Detail is not null;
    }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct) => await LoadAsync(ct) ? Page() : NotFound();

    protected override bool Valid()
    {
        Chosen = AccountActions.FromSlug(Act.Action);
        if (Chosen is null)
            ModelState.AddModelError("Act.Action", "Choose one of the actions below.");
        if (AccountActions.ReasonProblem(Act.Reason) is { } problem)
            ModelState.AddModelError("Act.Reason", problem);
        if (Chosen == AccountChange.RevokeApiKey && Key is null)
            ModelState.AddModelError("Act.KeyId", "Choose one of the customer's API keys.");
        return ModelState.IsValid;
    }

    public async Task<IActionResult> OnPostConfirmAsync(CancellationToken ct)
    {
        if (await ReadyAsync(ct) is { } notReady)
            return notReady;
        var outcome = await actions.RunAsync(AuditActor.From(User), Id, Chosen!.Value, Act.Reason!, Act.KeyId, ct);
        switch (outcome.Status)
        {
            case AccountActionStatus.Applied:
            case AccountActionStatus.Unchanged:
                TempData["StatusMessage"] = outcome.Message;
                return Redirect($"/admin/customers/{Uri.EscapeDataString(Id)}");
            case AccountActionStatus.NotFound when Chosen != AccountChange.RevokeApiKey:
                return NotFound();
            default:
                ModelState.AddModelError(string.Empty, $"Nothing changed: {outcome.Message}");
                Response.StatusCode = outcome.Status == AccountActionStatus.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict;
                return Page();
        }
    }
}
