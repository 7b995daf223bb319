using System.Text.RegularExpressions;
using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Emails;

/// <summary>One message of the development outbox: its HTML part rendered as sent, and its text part as the recipient would read it.</summary>
[AllowAnonymous]
public sealed partial class DevMailboxMessage(OutboxMailSender outbox) : PageModel
{
    public OutboxMessage? Message { get; private set; }

    /// <summary>What is inside the HTML part's <c>&lt;body&gt;</c>: the page has its own document, head and styles.</summary>
    public string HtmlContent => Message?.HtmlBody is { Length: > 0 } html && Body().Match(html) is { Success: true } body ? body.Groups[1].Value : Message?.HtmlBody ?? "";

    public IActionResult OnGet(string id)
    {
        if (!DevAccess.IsAllowed(HttpContext))
            return NotFound();
        Message = outbox.Find(id);
        return Message is null ? NotFound() : Page();
    }

    [GeneratedRegex("<body[^>]*>(.*)</body>", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex Body();
}
