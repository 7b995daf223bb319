using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OAuth;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>An <c>Authentication:Google</c> or <c>Authentication:GitHub</c> section.</summary>
public sealed class OAuthProviderOptions
{
    /// <summary>The OAuth app's client id; the provider is offered only when it and the secret are set.</summary>
    public string? ClientId { get; set; }

    /// <summary>The OAuth app's client secret; from the environment, never the repository.</summary>
    public string? ClientSecret { get; set; }

    public bool IsConfigured(string provider) =>
        (string.IsNullOrWhiteSpace(ClientId), string.IsNullOrWhiteSpace(ClientSecret)) switch
        {
            (false, false) => true,
            (true, true) => false,
            _ => throw new InvalidOperationException($"Authentication:{provider} needs both ClientId and ClientSecret, or neither."),
        };
}

/// <summary>Google and GitHub sign-in, each registered only when configured, so Identity UI shows only those buttons.</summary>
public static class ExternalLogins
{
    public const string GitHubAuthorizationEndpoint = "https://github.com/login/oauth/authorize";
    public const string GitHubTokenEndpoint = "https://github.com/login/oauth/access_token";
    public const string GitHubUserEndpoint = "https://api.github.com/user";
    public const string GitHubEmailsEndpoint = "https://api.github.com/user/emails";

    /// <summary>"true" when the provider vouches for the address in the email claim.</summary>
    public const string EmailVerifiedClaim = "email_verified";

    public static AuthenticationBuilder AddExternalLogins(this AuthenticationBuilder builder, IConfiguration configuration)
    {
        var google = configuration.GetSection("Authentication:Google").Get<OAuthProviderOptions>() ?? new();
        if (google.IsConfigured(AuthSchemes.Google))
            builder.AddGoogle(AuthSchemes.Google, "Google", options =>
            {
                options.ClientId = google.ClientId!;
                options.ClientSecret = google.ClientSecret!;
                options.ClaimActions.MapJsonKey(EmailVerifiedClaim, "email_verified");
            });

        var github = configuration.GetSection("Authentication:GitHub").Get<OAuthProviderOptions>() ?? new();
        if (github.IsConfigured(AuthSchemes.GitHub))
            builder.AddOAuth(AuthSchemes.GitHub, "GitHub", options =>
            {
                options.ClientId = github.ClientId!;
                options.ClientSecret = github.ClientSecret!;
                options.CallbackPath = "/signin-github";
                options.AuthorizationEndpoint = GitHubAuthorizationEndpoint;
                options.TokenEndpoint = GitHubTokenEndpoint;
                options.UserInformationEndpoint = GitHubUserEndpoint;
                options.Scope.Add("read:user");
                options.Scope.Add("user:email");
                options.ClaimActions.MapJsonKey(ClaimTypes.NameIdentifier, "id");
                options.ClaimActions.MapJsonKey(ClaimTypes.Name, "login");
                options.Events.OnCreatingTicket = LoadGitHubUserAsync;
            });
        return builder;
    }

    private static async Task LoadGitHubUserAsync(OAuthCreatingTicketContext context)
    {
        using var user = (await GetGitHubJsonAsync(context, GitHubUserEndpoint, optional: false))!;
        context.RunClaimActions(user.RootElement);

        // /user shows only a public address and says nothing of verification; /user/emails (scope user:email)
        // lists every address with its flags, and only the verified primary one is taken.
        using var emails = await GetGitHubJsonAsync(context, GitHubEmailsEndpoint, optional: true);
        if (emails is null)
            return;
        var primary = emails.RootElement.EnumerateArray().FirstOrDefault(e =>
            e.TryGetProperty("primary", out var p) && p.ValueKind == JsonValueKind.True &&
            e.TryGetProperty("verified", out var v) && v.ValueKind == JsonValueKind.True);
        if (primary.ValueKind == JsonValueKind.Object && primary.GetProperty("email").GetString() is { } email)
        {
            context.Identity?.AddClaim(new Claim(ClaimTypes.Email, email, ClaimValueTypes.String, context.Options.ClaimsIssuer));
            context.Identity?.AddClaim(new Claim(EmailVerifiedClaim, "true", ClaimValueTypes.String, context.Options.ClaimsIssuer));
        }
    }

    /// <summary>GET a GitHub API resource; an optional one the user did not grant yields null instead of failing the sign-in.</summary>
    private static async Task<JsonDocument?> GetGitHubJsonAsync(OAuthCreatingTicketContext context, string url, bool optional)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/vnd.github+json"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", context.AccessToken);
        // GitHub's API refuses requests without a User-Agent.
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("GenSaaS", "1.0"));
        using var response = await context.Backchannel.SendAsync(request, context.HttpContext.RequestAborted);
        if (optional && !response.IsSuccessStatusCode)
            return null;
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(context.HttpContext.RequestAborted));
    }
}
