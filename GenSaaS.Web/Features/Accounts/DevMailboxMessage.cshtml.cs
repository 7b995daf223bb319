using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>One message of the development outbox, its HTML body rendered as sent.</summary>
[AllowAnonymous]
public sealed class DevMailboxMessage(OutboxEmailSender outbox) : PageModel
{
    public OutboxMessage? Message { get; private set; }

    public IActionResult OnGet(string id)
    {
        if (!DevAccess.IsAllowed(HttpContext))
            return NotFound();
        Message = outbox.Find(id);
        return Message is null ? NotFound() : Page();
    }
}
