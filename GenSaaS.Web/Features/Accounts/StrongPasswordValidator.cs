using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>
/// Refuses common and guessable passwords with zxcvbn (its dictionaries of common passwords, names and words,
/// keyboard patterns and l33t substitutions), the user's own address counting as guessable. Identity's own validator
/// enforces the length; every path that sets a password (register, reset, change, set, the CLI) runs both.
/// </summary>
public sealed class StrongPasswordValidator : IPasswordValidator<IdentityUser>
{
    /// <summary>OWASP ASVS 5.0 6.2.1 asks for at least 8; 10 leaves room for the guessability check to mean something.</summary>
    public const int MinLength = 10;

    /// <summary>zxcvbn's "safely unguessable" (about 10^8 guesses and more).</summary>
    public const int MinScore = 3;

    /// <summary>What the forms say under the password field, the same rule as the server's.</summary>
    public const string Hint = "At least 10 characters, and not a common or easily guessed password (a few unrelated words work well).";

    public Task<IdentityResult> ValidateAsync(UserManager<IdentityUser> manager, IdentityUser user, string? password)
    {
        if (string.IsNullOrEmpty(password) || password.Length < MinLength)
            return Task.FromResult(IdentityResult.Success);
        var result = Zxcvbn.Zxcvbn.MatchPassword(password, UserInputs(user));
        return Task.FromResult(result.Score >= MinScore
            ? IdentityResult.Success
            : IdentityResult.Failed(new IdentityError
            {
                Code = "PasswordTooGuessable",
                Description = "This password is too common or too easy to guess. Use a longer one, e.g. a few unrelated words.",
            }));
    }

    private static IEnumerable<string> UserInputs(IdentityUser user)
    {
        foreach (var value in new[] { user.Email, user.UserName })
        {
            if (string.IsNullOrEmpty(value))
                continue;
            yield return value;
            foreach (var part in value.Split(['@', '.', '-', '_', '+'], StringSplitOptions.RemoveEmptyEntries))
                yield return part;
        }
        yield return "gensaas";
    }
}
