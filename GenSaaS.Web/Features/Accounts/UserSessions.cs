using System.Security.Claims;
using Dapper;
using GenSaaS.Web.Data;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Features.Accounts;

public sealed record UserSession(string Id, string? UserAgent, string? Ip, DateTime CreatedAt, DateTime LastSeenAt, bool IsCurrent);

/// <summary>
/// Server-side sign-in sessions. Each sign-in cookie carries a random token (claim <see cref="ClaimType"/>) whose SHA-256
/// names a row here; a cookie whose row is revoked or missing is refused on its next request, so sign-out, "sign out
/// everywhere" and a password or email change end sessions at once instead of when the cookie expires.
/// </summary>
public sealed class UserSessions(Db db, TimeProvider clock, ILogger<UserSessions> logger)
{
    public const string ClaimType = "gensaas:session";

    /// <summary>A session's last-seen time is written at most this often, so a request costs one read, not a write.</summary>
    public static readonly TimeSpan LastSeenResolution = TimeSpan.FromMinutes(1);

    private const string InsertSql = """
        INSERT INTO user_sessions (id, user_id, token_hash, created_at, last_seen_at, user_agent, ip)
        VALUES (@id, @userId, @hash, @now, @now, @userAgent, @ip);
        """;

    /// <summary>Starts a session for the user and returns its token, to be put in the cookie.</summary>
    public async Task<string> StartAsync(string userId, HttpContext http)
    {
        var token = Secrets.NewToken();
        var userAgent = http.Request.Headers.UserAgent.ToString();
        await db.ExecuteAsync(InsertSql, new
        {
            id = Guid.NewGuid().ToString("N"), userId, hash = Secrets.Hash(token), now = clock.GetUtcNow().UtcDateTime,
            userAgent = userAgent.Length == 0 ? null : userAgent[..Math.Min(userAgent.Length, 300)],
            ip = http.Connection.RemoteIpAddress?.ToString(),
        }, http.RequestAborted);
        return token;
    }

    private const string FindSql = """
        SELECT user_id, last_seen_at FROM user_sessions WHERE token_hash = @hash AND revoked_at IS NULL;
        """;

    private const string TouchSql = """
        UPDATE user_sessions SET last_seen_at = @now WHERE token_hash = @hash;
        """;

    /// <summary>True when the token names a live session of this user; notes the use at most once per <see cref="LastSeenResolution"/>.</summary>
    public async Task<bool> IsLiveAsync(string token, string userId, CancellationToken ct)
    {
        var hash = Secrets.Hash(token);
        var found = await db.ReadAsync(connection =>
        {
            using var r = connection.Prepared(null, FindSql, ("@hash", hash)).ExecuteReader();
            return r.Read() ? (UserId: r.GetString(0), LastSeen: r.GetUtcDateTime(1)) : default((string UserId, DateTime LastSeen)?);
        }, ct);
        if (found is not { } session || session.UserId != userId)
            return false;
        var now = clock.GetUtcNow().UtcDateTime;
        if (now - session.LastSeen >= LastSeenResolution)
            await db.ExecuteAsync(TouchSql, new { hash, now }, ct);
        return true;
    }

    private const string RevokeSql = """
        UPDATE user_sessions SET revoked_at = @now WHERE token_hash = @hash AND revoked_at IS NULL;
        """;

    public Task RevokeAsync(string token, CancellationToken ct) =>
        db.ExecuteAsync(RevokeSql, new { hash = Secrets.Hash(token), now = clock.GetUtcNow().UtcDateTime }, ct);

    private const string RevokeOthersSql = """
        UPDATE user_sessions SET revoked_at = @now
        WHERE user_id = @userId AND revoked_at IS NULL AND (@keepHash IS NULL OR token_hash <> @keepHash);
        """;

    /// <summary>Ends every live session of the user except the one holding <paramref name="keepToken"/> (all when null); returns how many.</summary>
    public async Task<int> RevokeOthersAsync(string userId, string? keepToken, CancellationToken ct)
    {
        var ended = await db.ExecuteAsync(RevokeOthersSql,
            new { userId, keepHash = keepToken is null ? null : Secrets.Hash(keepToken), now = clock.GetUtcNow().UtcDateTime }, ct);
        if (ended > 0)
            logger.LogInformation("Ended {SessionCount} other session(s) of user {UserId}", ended, userId);
        return ended;
    }

    private const string ListSql = """
        SELECT id, token_hash, user_agent, ip, created_at, last_seen_at
        FROM user_sessions WHERE user_id = @userId AND revoked_at IS NULL
        ORDER BY last_seen_at DESC;
        """;

    public async Task<IReadOnlyList<UserSession>> ListAsync(string userId, string? currentToken, CancellationToken ct)
    {
        var currentHash = currentToken is null ? null : Secrets.Hash(currentToken);
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.QueryAsync<(string Id, string TokenHash, string? UserAgent, string? Ip, DateTime CreatedAt, DateTime LastSeenAt)>(
            new CommandDefinition(ListSql, new { userId }, cancellationToken: ct));
        return rows.Select(r => new UserSession(r.Id, r.UserAgent, r.Ip, r.CreatedAt, r.LastSeenAt, r.TokenHash == currentHash)).ToList();
    }

    /// <summary>The session token of a principal signed in with Identity's cookie, or null.</summary>
    public static string? TokenOf(ClaimsPrincipal? user) =>
        user?.Identity?.AuthenticationType == IdentityConstants.ApplicationScheme ? user.FindFirstValue(ClaimType) : null;

    /// <summary>Hooks the sessions into Identity's application cookie, keeping the validator already there (the security stamp's).</summary>
    public static void AttachTo(CookieAuthenticationEvents events)
    {
        var validateStamp = events.OnValidatePrincipal;
        events.OnSigningIn = async context =>
        {
            if (context.Principal?.Identity is not ClaimsIdentity identity || context.Principal.FindFirstValue(ClaimTypes.NameIdentifier) is not { } userId)
                return;
            foreach (var stale in identity.FindAll(ClaimType).ToList())
                identity.RemoveClaim(stale);
            // A refresh of the same user's sign-in (after a password change on this device) keeps its session.
            var current = context.HttpContext.User;
            var token = current.FindFirstValue(ClaimTypes.NameIdentifier) == userId ? TokenOf(current) : null;
            token ??= await context.HttpContext.RequestServices.GetRequiredService<UserSessions>().StartAsync(userId, context.HttpContext);
            identity.AddClaim(new Claim(ClaimType, token));
        };
        events.OnValidatePrincipal = async context =>
        {
            var token = context.Principal?.FindFirstValue(ClaimType);
            var userId = context.Principal?.FindFirstValue(ClaimTypes.NameIdentifier);
            var sessions = context.HttpContext.RequestServices.GetRequiredService<UserSessions>();
            if (token is null || userId is null || !await sessions.IsLiveAsync(token, userId, context.HttpContext.RequestAborted))
            {
                context.RejectPrincipal();
                // Drop the dead cookie without SignOutAsync, so a replayed cookie costs no write.
                context.Options.CookieManager.DeleteCookie(context.HttpContext, context.Options.Cookie.Name!, context.Options.Cookie.Build(context.HttpContext));
                return;
            }
            await validateStamp(context);
        };
        events.OnSigningOut = async context =>
        {
            if (TokenOf(context.HttpContext.User) is { } token)
                await context.HttpContext.RequestServices.GetRequiredService<UserSessions>().RevokeAsync(token, CancellationToken.None);
        };
    }

    /// <summary>The security-stamp check re-reads the user every minute and builds a new principal; it keeps the session.</summary>
    public static Task KeepSessionOnRefresh(SecurityStampRefreshingPrincipalContext context)
    {
        if (context.CurrentPrincipal?.FindFirst(ClaimType) is { } claim && context.NewPrincipal?.Identity is ClaimsIdentity identity)
            identity.AddClaim(new Claim(ClaimType, claim.Value));
        return Task.CompletedTask;
    }
}

/// <summary>
/// Identity's user manager, ending every other session of the user once a password or email change succeeds, whichever
/// page (Identity's Manage pages, reset password) or command asked for it. The session that made the change stays.
/// </summary>
public sealed class SessionEndingUserManager(
    IUserStore<IdentityUser> store, Microsoft.Extensions.Options.IOptions<IdentityOptions> optionsAccessor,
    IPasswordHasher<IdentityUser> passwordHasher, IEnumerable<IUserValidator<IdentityUser>> userValidators,
    IEnumerable<IPasswordValidator<IdentityUser>> passwordValidators, ILookupNormalizer keyNormalizer, IdentityErrorDescriber errors,
    IServiceProvider services, ILogger<UserManager<IdentityUser>> logger)
    : UserManager<IdentityUser>(store, optionsAccessor, passwordHasher, userValidators, passwordValidators, keyNormalizer, errors, services, logger)
{
    private readonly IServiceProvider _services = services;

    private async Task<IdentityResult> EndOtherSessionsAfter(IdentityUser user, Task<IdentityResult> change)
    {
        var result = await change;
        if (result.Succeeded)
        {
            var current = _services.GetService<IHttpContextAccessor>()?.HttpContext?.User;
            var keep = current?.FindFirstValue(ClaimTypes.NameIdentifier) == user.Id ? UserSessions.TokenOf(current) : null;
            await _services.GetRequiredService<UserSessions>().RevokeOthersAsync(user.Id, keep, CancellationToken);
        }
        return result;
    }

    public override Task<IdentityResult> ChangePasswordAsync(IdentityUser user, string currentPassword, string newPassword) =>
        EndOtherSessionsAfter(user, base.ChangePasswordAsync(user, currentPassword, newPassword));

    public override Task<IdentityResult> ResetPasswordAsync(IdentityUser user, string token, string newPassword) =>
        EndOtherSessionsAfter(user, base.ResetPasswordAsync(user, token, newPassword));

    public override Task<IdentityResult> AddPasswordAsync(IdentityUser user, string password) =>
        EndOtherSessionsAfter(user, base.AddPasswordAsync(user, password));

    public override Task<IdentityResult> RemovePasswordAsync(IdentityUser user) =>
        EndOtherSessionsAfter(user, base.RemovePasswordAsync(user));

    public override Task<IdentityResult> ChangeEmailAsync(IdentityUser user, string newEmail, string token) =>
        EndOtherSessionsAfter(user, base.ChangeEmailAsync(user, newEmail, token));

    public override Task<IdentityResult> SetEmailAsync(IdentityUser user, string? email) =>
        EndOtherSessionsAfter(user, base.SetEmailAsync(user, email));
}
