using GenSaaS.Web.Features.Generation;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>The user's signed-in sessions, and "sign out everywhere" (optionally revoking every API key too).</summary>
[Authorize]
public sealed class Sessions(UserSessions sessions, ApiKeyStore keys, ILogger<Sessions> logger) : PageModel
{
    public IReadOnlyList<UserSession> Active { get; private set; } = [];

    [BindProperty]
    public bool RevokeApiKeys { get; set; }

    [TempData]
    public string? StatusMessage { get; set; }

    public async Task OnGetAsync(CancellationToken ct) =>
        Active = await sessions.ListAsync(GenerationApi.UserId(User), UserSessions.TokenOf(User), ct);

    public async Task<IActionResult> OnPostSignOutEverywhereAsync(CancellationToken ct)
    {
        var userId = GenerationApi.UserId(User);
        var ended = await sessions.RevokeOthersAsync(userId, UserSessions.TokenOf(User), ct);
        var revoked = RevokeApiKeys ? await keys.RevokeAllAsync(userId, ct) : 0;
        logger.LogInformation("User {UserId} signed out everywhere: {SessionCount} session(s) ended, {ApiKeyCount} API key(s) revoked", userId, ended, revoked);
        StatusMessage = $"Signed out of {ended} other session{(ended == 1 ? "" : "s")}."
            + (RevokeApiKeys ? $" Revoked {revoked} API key{(revoked == 1 ? "" : "s")}." : "");
        return RedirectToPage();
    }
}
