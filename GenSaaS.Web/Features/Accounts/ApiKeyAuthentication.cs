using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>Authentication scheme names other features can rely on.</summary>
public static class AuthSchemes
{
    /// <summary>The default: API key when a Bearer header is present, else Identity's cookie.</summary>
    public const string Default = "GenSaaS";

    /// <summary><c>Authorization: Bearer gsk_...</c>.</summary>
    public const string ApiKey = "ApiKey";

    public const string Google = "Google";
    public const string GitHub = "GitHub";

    public static bool HasBearer(HttpRequest request) =>
        request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase);
}

/// <summary>Signs a request in as the owner of the personal API key it carries.</summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeyStore keys, TimeProvider clock)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!AuthSchemes.HasBearer(Request))
            return AuthenticateResult.NoResult();
        var key = Request.Headers.Authorization.ToString()["Bearer ".Length..].Trim();
        var owner = await keys.FindOwnerAsync(key, Context.RequestAborted);
        if (owner is null)
            return AuthenticateResult.Fail("Unknown or revoked API key");
        if (owner.LockoutEnabled != 0 && owner.LockoutEnd is { } end
            && DateTimeOffset.Parse(end, CultureInfo.InvariantCulture) > clock.GetUtcNow())
            return AuthenticateResult.Fail("The key's owner is locked out");

        var claims = new List<Claim> { new(ClaimTypes.NameIdentifier, owner.UserId), new("api_key_id", owner.KeyId) };
        if (owner.UserName is { } name)
            claims.Add(new Claim(ClaimTypes.Name, name));
        if (owner.Email is { } email)
            claims.Add(new Claim(ClaimTypes.Email, email));
        claims.AddRange(owner.Roles.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(role => new Claim(ClaimTypes.Role, role)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, AuthSchemes.ApiKey, ClaimTypes.Name, ClaimTypes.Role));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, AuthSchemes.ApiKey));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        Problems.WriteAsync(Context, StatusCodes.Status401Unauthorized, ProblemCodes.Unauthenticated,
            "The API key is not valid.", "The key is unknown or revoked, or its account is locked. Create a new key at /account/api-keys.");

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.WriteAsync(Context, StatusCodes.Status403Forbidden, ProblemCodes.Forbidden, "You may not do this.");
}
