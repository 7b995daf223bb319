using System.Security.Claims;
using GenSaaS.Web.Features.Accounts;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Legal;

/// <summary>
/// <c>/legal/accept</c>: where <see cref="LegalGate"/> sends a signed-in user when a document they have not accepted is
/// published. Ticking the box records the versions the page showed and returns them to the page they were going to.
/// </summary>
[Authorize]
public sealed class Accept(LegalAcceptances acceptances, ILogger<Accept> logger) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    [BindProperty(Name = LegalConsent.AcceptField)]
    public bool AcceptLegal { get; set; }

    [BindProperty(Name = LegalConsent.StampField)]
    public string? LegalStamp { get; set; }

    public LegalConsent Consent { get; private set; } = new([]);

    private string UserId => User.FindFirstValue(ClaimTypes.NameIdentifier)!;

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Consent = new LegalConsent(await acceptances.PendingAsync(UserId, ct));
        // Nothing (left) to accept: another tab accepted, or the link was followed without need.
        return Consent.Asked ? Page() : LocalRedirect(AccountLinks.SafeReturnUrl(ReturnUrl));
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        Consent = new LegalConsent(await acceptances.PendingAsync(UserId, ct));
        if (!Consent.Asked)
            return LocalRedirect(AccountLinks.SafeReturnUrl(ReturnUrl));
        if (!Consent.Check(ModelState, AcceptLegal, LegalStamp, "to go on using the site"))
            return Page();
        await acceptances.RecordAsync(UserId, Consent.Documents, LegalAcceptances.ViaAskedAgain, ct);
        logger.LogInformation("User {UserId} accepted {LegalVersions}", UserId, Consent.Stamp);
        return LocalRedirect(AccountLinks.SafeReturnUrl(ReturnUrl));
    }
}
