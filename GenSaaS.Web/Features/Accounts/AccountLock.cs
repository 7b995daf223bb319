using System.Globalization;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>
/// An account locked by an admin or an operator: Identity's <c>LockoutEnd</c> set to the end of time, unlike the 15 minutes
/// that failed passwords earn. Every sign-in path refuses both (Identity's lockout check); an API key, existing sessions
/// included, stops working only for this one, so guessing someone's password cannot switch off their integrations.
/// </summary>
public static class AccountLock
{
    public static readonly DateTimeOffset Indefinitely = DateTimeOffset.MaxValue;

    /// <summary><see cref="Indefinitely"/> as Identity's EF Core store writes a <c>DateTimeOffset</c> in SQLite.</summary>
    public static readonly string IndefinitelyText = Format(Indefinitely);

    /// <summary>
    /// <c>LockoutEnd</c> at or beyond this text (compared as text, as it is stored) is a lock by an admin; a failed-password lockout
    /// ends within minutes of now.
    /// </summary>
    public const string IndefiniteFrom = "9999";

    public static string Format(DateTimeOffset value) =>
        value.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss.FFFFFFFzzz", CultureInfo.InvariantCulture);

    public static bool IsIndefinite(string? lockoutEnd) => lockoutEnd is not null && string.CompareOrdinal(lockoutEnd, IndefiniteFrom) >= 0;
}
