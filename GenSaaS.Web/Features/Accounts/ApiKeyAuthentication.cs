using System.Security.Claims;
using System.Text.Encodings.Web;
using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>Authentication scheme names other features can rely on.</summary>
public static class AuthSchemes
{
    /// <summary>The default: API key for a Bearer header on the API's paths (<see cref="Select"/>), else Identity's cookie.</summary>
    public const string Default = "GenSaaS";

    /// <summary><c>Authorization: Bearer gsk_...</c>.</summary>
    public const string ApiKey = "ApiKey";

    public const string Google = "Google";
    public const string GitHub = "GitHub";

    public static bool HasBearer(HttpRequest request) =>
        request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase);

    /// <summary>The only paths an API key authenticates: the JSON API and the image files it links to.</summary>
    public static bool AcceptsApiKey(PathString path) => path.StartsWithSegments("/api/v1") || path.StartsWithSegments("/images");

    /// <summary>
    /// The scheme that authenticates <paramref name="request"/>. Everywhere but the API a Bearer header is ignored, so a key
    /// never opens a page, an account or admin screen, Identity's UI or the jobs dashboard (it is anonymous there).
    /// </summary>
    public static string Select(HttpRequest request) =>
        HasBearer(request) && AcceptsApiKey(request.Path) ? ApiKey : Microsoft.AspNetCore.Identity.IdentityConstants.ApplicationScheme;
}

/// <summary>Signs a request in as the owner of the personal API key it carries.</summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeyStore keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!AuthSchemes.HasBearer(Request) || !AuthSchemes.AcceptsApiKey(Request.Path))
            return AuthenticateResult.NoResult();
        var key = Request.Headers.Authorization.ToString()["Bearer ".Length..].Trim();
        var owner = await keys.FindOwnerAsync(key, Context.RequestAborted);
        if (owner is null)
            return AuthenticateResult.Fail("Unknown or revoked API key");
        // Failed-password lockout is not checked: it guards the password, and an attacker guessing it must not be able to
        // switch off the owner's integrations. An admin's lock (AccountLock) is: it stops every way in at once.
        if (owner.Locked)
        {
            Context.Items[LockedItem] = true;
            return AuthenticateResult.Fail("The account of this API key is locked");
        }

        var claims = new List<Claim> { new(ClaimTypes.NameIdentifier, owner.UserId), new("api_key_id", owner.KeyId) };
        if (owner.UserName is { } name)
            claims.Add(new Claim(ClaimTypes.Name, name));
        if (owner.Email is { } email)
            claims.Add(new Claim(ClaimTypes.Email, email));
        var scopes = ApiKeyScopes.Parse(owner.Scopes);
        claims.AddRange(scopes.Select(scope => new Claim(ApiKeyScopes.ClaimType, scope)));
        // The owner's roles only with the admin scope: an admin's everyday key reads and generates as any user would.
        if (scopes.Contains(ApiKeyScopes.Admin))
            claims.AddRange(owner.Roles.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(role => new Claim(ClaimTypes.Role, role)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, AuthSchemes.ApiKey, ClaimTypes.Name, ClaimTypes.Role));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, AuthSchemes.ApiKey));
    }

    private const string LockedItem = "gensaas:api-key-account-locked";

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        Context.Items.ContainsKey(LockedItem)
            ? Problems.WriteAsync(Context, StatusCodes.Status401Unauthorized, ProblemCodes.Unauthenticated,
                "The account is locked.", "The account this key belongs to is locked; its keys work again when an admin unlocks it.")
            : Problems.WriteAsync(Context, StatusCodes.Status401Unauthorized, ProblemCodes.Unauthenticated,
                "The API key is not valid.", "The key is unknown or revoked. Create a new key at /account/api-keys.");

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.WriteAsync(Context, StatusCodes.Status403Forbidden, ProblemCodes.Forbidden, "You may not do this.");
}
