using System.ComponentModel.DataAnnotations;
using GenSaaS.Web.Features.Generation;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>Create and revoke personal API keys.</summary>
[Authorize]
public sealed class ApiKeys(ApiKeyStore keys, ILogger<ApiKeys> logger) : PageModel
{
    public sealed record InputModel
    {
        [Required, StringLength(80), Display(Name = "Name")]
        public string? Name { get; init; }

        /// <summary>The ticked scopes; the default ones when the field is not sent at all (the form always sends it).</summary>
        public List<string?> Scopes { get; init; } = [.. ApiKeyScopes.Default];
    }

    /// <summary>The scopes this user may give a key: <c>admin</c> only for admins.</summary>
    public IReadOnlyList<string> OfferedScopes =>
        User.IsInRole(Roles.Admin) ? ApiKeyScopes.All : ApiKeyScopes.All.Where(s => s != ApiKeyScopes.Admin).ToList();

    [BindProperty]
    public InputModel Input { get; set; } = new();

    [TempData]
    public string? StatusMessage { get; set; }

    public IReadOnlyList<ApiKeyRecord> Keys { get; private set; } = [];

    /// <summary>The full key just created; rendered once in the POST's answer and stored nowhere.</summary>
    public string? NewKey { get; private set; }

    public async Task OnGetAsync(CancellationToken ct) => Keys = await keys.ListAsync(GenerationApi.UserId(User), ct);

    public async Task<IActionResult> OnPostCreateAsync(CancellationToken ct)
    {
        var userId = GenerationApi.UserId(User);
        if (!ModelState.IsValid || string.IsNullOrWhiteSpace(Input.Name))
        {
            if (ModelState.IsValid)
                ModelState.AddModelError("Input.Name", "Give the key a name.");
            Keys = await keys.ListAsync(userId, ct);
            return Page();
        }

        var (scopes, unknown) = ApiKeyScopes.ParseInput(Input.Scopes);
        if (unknown.Count > 0)
            ModelState.AddModelError("Input.Scopes", $"Unknown scope: {string.Join(", ", unknown)}. Choose from {string.Join(", ", OfferedScopes)}.");
        else if (scopes.Count == 0)
            ModelState.AddModelError("Input.Scopes", "Choose at least one scope.");
        else if (scopes.Contains(ApiKeyScopes.Admin) && !User.IsInRole(Roles.Admin))
            ModelState.AddModelError("Input.Scopes", "Only administrators can create a key with the admin scope.");
        var created = ModelState.IsValid ? await keys.CreateAsync(userId, Input.Name, scopes, ct) : null;
        if (ModelState.IsValid && created is null)
            ModelState.AddModelError(string.Empty,
                $"You already have {ApiKeyStore.MaxActiveKeysPerUser} active keys, the most one account can hold. Revoke a key you no longer use, then create this one.");
        if (created is not { } made)
        {
            Keys = await keys.ListAsync(userId, ct);
            return Page();
        }

        var (record, key) = made;
        logger.LogInformation("User {UserId} created API key {ApiKeyId} ({ApiKeyPrefix}) with scopes {ApiKeyScopes}", userId, record.Id, record.Prefix, record.Scopes);
        // No redirect here on purpose: the key must not travel through TempData or a URL to survive one.
        NewKey = key;
        Input = new InputModel();
        ModelState.Clear();
        Keys = await keys.ListAsync(userId, ct);
        return Page();
    }

    public async Task<IActionResult> OnPostRevokeAsync(string id, CancellationToken ct)
    {
        var userId = GenerationApi.UserId(User);
        if (await keys.RevokeAsync(userId, id, ct))
        {
            logger.LogInformation("User {UserId} revoked API key {ApiKeyId}", userId, id);
            StatusMessage = "The key was revoked. Requests using it are now refused.";
        }
        else
            StatusMessage = "That key was already revoked.";
        return RedirectToPage();
    }
}
