using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Emails;

/// <summary>The outbox, newest first: for admins, or a local caller in Development; to anyone else it does not exist (404).</summary>
[AllowAnonymous]
public sealed class DevMailbox(OutboxMailSender outbox) : PageModel
{
    public IReadOnlyList<OutboxMessage> Messages { get; private set; } = [];

    public IActionResult OnGet()
    {
        if (!DevAccess.IsAllowed(HttpContext))
            return NotFound();
        Messages = outbox.List();
        return Page();
    }
}
