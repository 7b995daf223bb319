using GenSaaS.Web.Features.Emails;
using Hangfire;
using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>
/// Every account email, rendered from its templates (<see cref="Mailer"/>) and sent by a background job: the form that asked answers at once and the same way whether or not
/// the address has an account, and an SMTP outage only delays the message (Hangfire retries) instead of failing the
/// request. Arguments are ids and strings only; tokens are made when the mail is sent, so none sits in the job store.
/// <paramref name="baseUrl"/> of each method is <see cref="Shared.PublicAddress.BaseUrl"/> at the time of asking:
/// <c>App:PublicBaseUrl</c> whenever it is configured.
/// </summary>
public sealed class AccountEmailJob(UserManager<IdentityUser> users, MagicLinks magicLinks, Mailer mailer, ILogger<AccountEmailJob> logger)
{
    private const int Attempts = 10;

    [AutomaticRetry(Attempts = Attempts, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task ConfirmEmailAsync(string userId, string baseUrl)
    {
        if (await users.FindByIdAsync(userId) is not { Email: { } to } user || user.EmailConfirmed)
            return;
        var code = await users.GenerateEmailConfirmationTokenAsync(user);
        var link = AccountLinks.ConfirmEmail(baseUrl, user.Id, code);
        await mailer.SendAsync(to, new ConfirmEmail(link), user.Id);
        logger.LogInformation("Sent an email confirmation to user {UserId}", user.Id);
    }

    [AutomaticRetry(Attempts = Attempts, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task ResetPasswordAsync(string userId, string baseUrl)
    {
        if (await users.FindByIdAsync(userId) is not { Email: { } to } user || !user.EmailConfirmed)
            return;
        var code = await users.GeneratePasswordResetTokenAsync(user);
        var link = AccountLinks.ResetPassword(baseUrl, code);
        await mailer.SendAsync(to, new ResetPassword(link), user.Id);
        logger.LogInformation("Sent a password reset link to user {UserId}", user.Id);
    }

    [AutomaticRetry(Attempts = Attempts, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task MagicLinkAsync(string userId, string baseUrl, string returnUrl)
    {
        if (await users.FindByIdAsync(userId) is not { Email: { } to } user || await users.IsLockedOutAsync(user))
            return;
        var token = await magicLinks.CreateAsync(user.Id, CancellationToken.None);
        var link = AccountLinks.MagicLink(baseUrl, token, AccountLinks.SafeReturnUrl(returnUrl));
        await mailer.SendAsync(to, new SignInLink(link, (int)MagicLinks.Lifetime.TotalMinutes), user.Id);
        logger.LogInformation("Sent a sign-in link to user {UserId}", user.Id);
    }

    [AutomaticRetry(Attempts = Attempts, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task ChangeEmailAsync(string userId, string newEmail, string baseUrl)
    {
        if (await users.FindByIdAsync(userId) is not { } user)
            return;
        var code = await users.GenerateChangeEmailTokenAsync(user, newEmail);
        var link = AccountLinks.ConfirmEmailChange(baseUrl, user.Id, newEmail, code);
        await mailer.SendAsync(newEmail, new ConfirmEmailChange(link, newEmail), user.Id);
        logger.LogInformation("Sent an email change confirmation for user {UserId}", user.Id);
    }

    /// <summary>Someone asked to register an address that already has an account: its owner hears of it, the asker learns nothing.</summary>
    [AutomaticRetry(Attempts = Attempts, DelaysInSeconds = [5, 15, 60, 120, 300, 600, 1800, 3600, 7200, 14400])]
    public async Task AlreadyRegisteredAsync(string userId, string baseUrl)
    {
        if (await users.FindByIdAsync(userId) is not { Email: { } to } user)
            return;
        if (!user.EmailConfirmed)
        {
            // The owner may have lost the first confirmation mail; a fresh one is what they need.
            await ConfirmEmailAsync(userId, baseUrl);
            return;
        }
        await mailer.SendAsync(to, new AlreadyRegistered(AccountLinks.SignIn(baseUrl), AccountLinks.ForgotPassword(baseUrl)), user.Id);
        logger.LogInformation("Told user {UserId} of a registration attempt for their address", user.Id);
    }
}
