using GenSaaS.Web.Features.Operations;
using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Features.Accounts;

/// <summary><c>GenSaaS.Web users add --email E --password P [--admin] [--confirmed]</c></summary>
public sealed class UsersAddCommand(UserManager<IdentityUser> users, RoleManager<IdentityRole> roles, ILogger<UsersAddCommand> logger) : ICliCommand
{
    public string Name => "users add";

    public string Usage => "users add --email E --password P [--admin] [--confirmed]";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var email = args.Required("email");
        var password = args.Required("password");
        var user = new IdentityUser { UserName = email, Email = email, EmailConfirmed = args.Has("confirmed") };
        var created = await users.CreateAsync(user, password);
        if (!created.Succeeded)
        {
            await Console.Error.WriteLineAsync($"error: could not create {email}: {Describe(created)}");
            return 1;
        }
        if (args.Has("admin"))
        {
            // The web app seeds the role at start; an operator may run this before it ever has.
            if (!await roles.RoleExistsAsync(Roles.Admin))
                await roles.CreateAsync(new IdentityRole(Roles.Admin));
            var promoted = await users.AddToRoleAsync(user, Roles.Admin);
            if (!promoted.Succeeded)
            {
                await users.DeleteAsync(user);
                await Console.Error.WriteLineAsync($"error: could not make {email} an admin: {Describe(promoted)}");
                return 1;
            }
        }
        logger.LogInformation("Operator created user {UserId} (admin: {Admin}, confirmed: {Confirmed})", user.Id, args.Has("admin"), user.EmailConfirmed);
        await output.WriteLineAsync($"Created {(args.Has("admin") ? "admin" : "user")} {email} ({user.Id}){(user.EmailConfirmed ? ", email confirmed" : ", email not confirmed")}.");
        return 0;
    }

    private static string Describe(IdentityResult result) => string.Join(" ", result.Errors.Select(e => e.Description));
}

/// <summary><c>GenSaaS.Web apikeys create --email E --name N [--scopes generate,read,delete,admin]</c>: prints the new key once.</summary>
public sealed class ApiKeysCreateCommand(UserManager<IdentityUser> users, ApiKeyStore keys, ILogger<ApiKeysCreateCommand> logger) : ICliCommand
{
    public string Name => "apikeys create";

    public string Usage => "apikeys create --email E --name N [--scopes generate,read,delete,admin]   (default scopes: generate,read; admin only for admins)";

    public async Task<int> RunAsync(CliArgs args, TextWriter output, CancellationToken ct)
    {
        var email = args.Required("email");
        var name = args.Required("name");
        var scopes = ApiKeyScopes.Default;
        if (args.Has("scopes"))
        {
            var (parsed, unknown) = ApiKeyScopes.ParseInput([args.Required("scopes")]);
            if (unknown.Count > 0)
                throw new CliUsageException($"unknown scope '{string.Join("', '", unknown)}'; the scopes are {string.Join(", ", ApiKeyScopes.All)}");
            if (parsed.Count == 0)
                throw new CliUsageException($"--scopes needs at least one of {string.Join(", ", ApiKeyScopes.All)}");
            scopes = parsed;
        }
        var user = await users.FindByEmailAsync(email);
        if (user is null)
        {
            await Console.Error.WriteLineAsync($"error: no user with email {email}");
            return 1;
        }
        if (scopes.Contains(ApiKeyScopes.Admin) && !await users.IsInRoleAsync(user, Roles.Admin))
        {
            await Console.Error.WriteLineAsync($"error: {email} is not an admin; only admins' keys may have the admin scope");
            return 1;
        }
        if (await keys.CreateAsync(user.Id, name, scopes, ct) is not { } created)
        {
            await Console.Error.WriteLineAsync($"error: {email} already has {ApiKeyStore.MaxActiveKeysPerUser} active keys, the most one account can hold; revoke one first");
            return 1;
        }
        var (record, key) = created;
        logger.LogInformation("Operator created API key {ApiKeyId} for user {UserId} with scopes {ApiKeyScopes}", record.Id, user.Id, record.Scopes);
        await output.WriteLineAsync(key);
        return 0;
    }
}
