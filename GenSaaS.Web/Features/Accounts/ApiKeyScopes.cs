using System.Security.Claims;
using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>What a personal API key may do. A signed-in browser (cookie) is not limited by scopes.</summary>
public static class ApiKeyScopes
{
    public const string Generate = "generate";
    public const string Read = "read";

    /// <summary>The key acts with its owner's roles (an admin's key can use the admin API); only admins may hold it.</summary>
    public const string Admin = "admin";

    /// <summary>Deletes the owner's images. Not a default: a key that only makes or reads images cannot destroy them.</summary>
    public const string Delete = "delete";

    /// <summary>Changes the owner's plan (cancel at period end, resume). Not a default: a key that makes images cannot end the plan.</summary>
    public const string Billing = "billing";

    public static readonly IReadOnlyList<string> All = [Generate, Read, Admin, Delete, Billing];

    public static readonly IReadOnlyList<string> Default = [Generate, Read];

    /// <summary>The claim a key's principal carries once per scope.</summary>
    public const string ClaimType = "scope";

    /// <summary>The authorization policy that needs <paramref name="scope"/> from an API key.</summary>
    public static string Policy(string scope) => "scope:" + scope;

    /// <summary>Scopes in their canonical order, space-separated, as stored.</summary>
    public static string Format(IEnumerable<string> scopes) => string.Join(' ', All.Where(scopes.Contains));

    public static IReadOnlyList<string> Parse(string stored) => stored.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Splits user input on commas or spaces; names that are not scopes come back in <c>Unknown</c>.</summary>
    public static (IReadOnlyList<string> Scopes, IReadOnlyList<string> Unknown) ParseInput(IEnumerable<string?> raw)
    {
        var names = raw.OfType<string>().SelectMany(r => r.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(n => n.ToLowerInvariant()).Distinct().ToList();
        return (All.Where(names.Contains).ToList(), names.Where(n => !All.Contains(n)).ToList());
    }

    public static bool IsApiKey(ClaimsPrincipal user) => user.Identity?.AuthenticationType == AuthSchemes.ApiKey;

    public static AuthorizationBuilder AddScopePolicies(this AuthorizationBuilder authorization)
    {
        foreach (var scope in All)
            authorization.AddPolicy(Policy(scope), policy => policy.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(scope)));
        return authorization;
    }
}

/// <summary>Met by a cookie session, or by an API key that carries the scope.</summary>
public sealed class ScopeRequirement(string scope) : AuthorizationHandler<ScopeRequirement>, IAuthorizationRequirement
{
    public string Scope { get; } = scope;

    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ScopeRequirement requirement)
    {
        if (!ApiKeyScopes.IsApiKey(context.User) || context.User.HasClaim(ApiKeyScopes.ClaimType, requirement.Scope))
            context.Succeed(requirement);
        return Task.CompletedTask;
    }
}

/// <summary>A key without the scope an endpoint needs gets 403 <c>insufficient_scope</c> naming it; everything else as usual.</summary>
public sealed class ScopeAwareAuthorizationResultHandler : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Forbidden
            && authorizeResult.AuthorizationFailure?.FailedRequirements.OfType<ScopeRequirement>().FirstOrDefault() is { } missing)
        {
            context.Response.Headers.WWWAuthenticate = $"Bearer error=\"insufficient_scope\", scope=\"{missing.Scope}\"";
            return Problems.WriteAsync(context, StatusCodes.Status403Forbidden, ProblemCodes.InsufficientScope,
                $"This API key lacks the '{missing.Scope}' scope.",
                $"Create a key with the '{missing.Scope}' scope at /account/api-keys.");
        }
        return _default.HandleAsync(next, context, policy, authorizeResult);
    }
}
