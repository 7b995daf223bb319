using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>The development outbox, newest first. Development only: elsewhere it does not exist (404).</summary>
[AllowAnonymous]
public sealed class DevMailbox(IWebHostEnvironment environment, OutboxEmailSender outbox) : PageModel
{
    public IReadOnlyList<OutboxMessage> Messages { get; private set; } = [];

    public IActionResult OnGet()
    {
        if (!environment.IsDevelopment())
            return NotFound();
        Messages = outbox.List();
        return Page();
    }
}
