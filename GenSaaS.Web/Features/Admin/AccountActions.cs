using Dapper;
using GenSaaS.Web.Data;
using GenSaaS.Web.Features.Accounts;
using Microsoft.Data.Sqlite;

namespace GenSaaS.Web.Features.Admin;

/// <summary>What an admin or an operator can do to an account (besides credits), as the page, the API and the CLI name it.</summary>
public enum AccountChange { ConfirmEmail, Lock, Unlock, Promote, Demote, RevokeApiKey, RevokeAllApiKeys }

public enum AccountActionStatus
{
    /// <summary>Done: the change and its audit entry were committed together.</summary>
    Applied,

    /// <summary>The account was already so (a repeat, a second tab): nothing changed and nothing was audited.</summary>
    Unchanged,

    /// <summary>No such customer, or no such API key of theirs.</summary>
    NotFound,

    /// <summary>Refused: an admin acting on their own admin role or lock (<c>own_account</c>), or the last admin (<c>last_admin</c>).</summary>
    Refused,
}

/// <summary>What an account action came to, with a sentence an operator can read and, refused, the problem code.</summary>
public sealed record AccountActionOutcome(AccountActionStatus Status, string Message, long? AuditId = null, string? Code = null, AccountState? After = null);

/// <summary>The account as the audit log records it before and after an action.</summary>
public sealed record AccountState(string? Email, bool EmailConfirmed, bool Locked, string? LockedUntil, bool Admin, long LiveApiKeys);

/// <summary>
/// Confirm the email, lock and unlock, make or revoke admin, revoke one or all API keys: each the change and one audit entry
/// (the account before and after) in one write transaction. The state decides, not a token: repeating an action finds the
/// account already so and changes nothing again. A lock or a demotion ends the account's sessions in the same transaction, so
/// it takes effect on the next request; a locked account's API keys are refused while it is locked (<see cref="AccountLock"/>).
/// An admin cannot lock or demote themselves, and nothing leaves the app without an unlocked admin.
/// </summary>
public sealed class AccountActions(Db db, AuditLog audit, TimeProvider clock, ILogger<AccountActions> logger)
{
    /// <summary>The longest reason kept.</summary>
    public const int MaxReasonLength = CreditAdjustments.MaxReasonLength;

    /// <summary>The words the page, the API routes and the CLI use for each action.</summary>
    public static string Slug(AccountChange action) => action switch
    {
        AccountChange.ConfirmEmail => "confirm-email",
        AccountChange.Lock => "lock",
        AccountChange.Unlock => "unlock",
        AccountChange.Promote => "promote",
        AccountChange.Demote => "demote",
        AccountChange.RevokeApiKey => "revoke-api-key",
        AccountChange.RevokeAllApiKeys => "revoke-api-keys",
        _ => throw new ArgumentOutOfRangeException(nameof(action)),
    };

    public static AccountChange? FromSlug(string? slug) =>
        Enum.GetValues<AccountChange>().Cast<AccountChange?>().FirstOrDefault(a => Slug(a!.Value) == slug);

    public static string AuditAction(AccountChange action) => action switch
    {
        AccountChange.ConfirmEmail => AuditActions.UserConfirmEmail,
        AccountChange.Lock => AuditActions.UserLock,
        AccountChange.Unlock => AuditActions.UserUnlock,
        AccountChange.Promote => AuditActions.UserPromote,
        AccountChange.Demote => AuditActions.UserDemote,
        AccountChange.RevokeApiKey => AuditActions.ApiKeyRevoke,
        AccountChange.RevokeAllApiKeys => AuditActions.ApiKeyRevokeAll,
        _ => throw new ArgumentOutOfRangeException(nameof(action)),
    };

    /// <summary>What the confirmation step says will happen.</summary>
    public static string Describe(AccountChange action, string who) => action switch
    {
        AccountChange.ConfirmEmail => $"Mark {who}'s email address as confirmed, as if they had followed the link: they can sign in with their password.",
        AccountChange.Lock => $"Lock {who}: their open sessions end now; signing in (password, email link, Google or GitHub) and their API keys are refused until an admin unlocks the account.",
        AccountChange.Unlock => $"Unlock {who}: they can sign in again and their API keys work again (their ended sessions stay ended).",
        AccountChange.Promote => $"Make {who} an admin: they can use /admin, the admin API and every action in it.",
        AccountChange.Demote => $"Revoke {who}'s admin role: their open sessions end now, and their keys no longer reach the admin API.",
        AccountChange.RevokeApiKey => $"Revoke one of {who}'s API keys: requests with it are refused from now on. A revoked key cannot be restored.",
        AccountChange.RevokeAllApiKeys => $"Revoke every API key of {who}: requests with any of them are refused from now on. Revoked keys cannot be restored.",
        _ => throw new ArgumentOutOfRangeException(nameof(action)),
    };

    /// <summary>Checks the reason as every action needs it: null when fine, else what is wrong.</summary>
    public static string? ReasonProblem(string? reason) =>
        string.IsNullOrWhiteSpace(reason) ? "Say why: the reason goes into the audit log."
        : reason.Trim().Length > MaxReasonLength ? $"Keep the reason under {MaxReasonLength} characters."
        : null;

    private sealed record Row(string Id, string? Email, long EmailConfirmed, string? LockoutEnd, long IsAdmin, long LiveKeys);

    private const string StateSql = """
        SELECT u.Id, u.Email, u.EmailConfirmed, u.LockoutEnd,
               EXISTS (SELECT 1 FROM AspNetUserRoles AS ur JOIN AspNetRoles AS r ON r.Id = ur.RoleId
                       WHERE ur.UserId = u.Id AND r.NormalizedName = 'ADMIN') AS IsAdmin,
               (SELECT count(*) FROM api_keys AS k WHERE k.user_id = u.Id AND k.revoked_at IS NULL) AS LiveKeys
        FROM AspNetUsers AS u
        WHERE u.Id = @userId;
        """;

    private AccountState? Read(SqliteConnection c, SqliteTransaction tx, string userId, string now) =>
        c.QuerySingleOrDefault<Row>(StateSql, new { userId }, tx) is { } r
            ? new AccountState(r.Email, r.EmailConfirmed != 0, r.LockoutEnd is { } end && string.CompareOrdinal(end, now) > 0,
                r.LockoutEnd is { } until && string.CompareOrdinal(until, now) > 0 ? (AccountLock.IsIndefinite(until) ? "indefinitely" : until) : null,
                r.IsAdmin != 0, r.LiveKeys)
            : null;

    // Admins other than this user who can act now: not locked (by an admin, or for failed passwords).
    private const string OtherAdminsSql = """
        SELECT count(*)
        FROM AspNetUserRoles AS ur
        JOIN AspNetRoles AS r ON r.Id = ur.RoleId
        JOIN AspNetUsers AS u ON u.Id = ur.UserId
        WHERE r.NormalizedName = 'ADMIN' AND ur.UserId <> @userId AND (u.LockoutEnd IS NULL OR u.LockoutEnd <= @now);
        """;

    private const string ConfirmSql = """
        UPDATE AspNetUsers SET EmailConfirmed = 1, ConcurrencyStamp = @stamp WHERE Id = @userId;
        """;

    // A new security stamp signs out any cookie the session check below might miss; a new concurrency stamp makes a
    // user object read before the lock fail to save, instead of writing its old LockoutEnd back.
    private const string LockSql = """
        UPDATE AspNetUsers SET LockoutEnabled = 1, LockoutEnd = @until, SecurityStamp = @securityStamp, ConcurrencyStamp = @stamp
        WHERE Id = @userId;
        """;

    private const string UnlockSql = """
        UPDATE AspNetUsers SET LockoutEnd = NULL, AccessFailedCount = 0, ConcurrencyStamp = @stamp WHERE Id = @userId;
        """;

    private const string EndSessionsSql = """
        UPDATE user_sessions SET revoked_at = @at WHERE user_id = @userId AND revoked_at IS NULL;
        """;

    // The role is made at start; an operator's command may run on a database the web app has not started on yet.
    private const string PromoteSql = """
        INSERT INTO AspNetRoles (Id, Name, NormalizedName, ConcurrencyStamp)
        SELECT @roleId, 'Admin', 'ADMIN', @stamp WHERE NOT EXISTS (SELECT 1 FROM AspNetRoles WHERE NormalizedName = 'ADMIN');
        INSERT INTO AspNetUserRoles (UserId, RoleId) SELECT @userId, Id FROM AspNetRoles WHERE NormalizedName = 'ADMIN';
        """;

    private const string DemoteSql = """
        DELETE FROM AspNetUserRoles WHERE UserId = @userId AND RoleId IN (SELECT Id FROM AspNetRoles WHERE NormalizedName = 'ADMIN');
        """;

    private const string LiveKeysSql = """
        SELECT id FROM api_keys WHERE user_id = @userId AND revoked_at IS NULL AND (@keyId IS NULL OR id = @keyId) ORDER BY created_at;
        """;

    private const string KeyExistsSql = """
        SELECT count(*) FROM api_keys WHERE user_id = @userId AND id = @keyId;
        """;

    private const string RevokeKeysSql = """
        UPDATE api_keys SET revoked_at = @at WHERE user_id = @userId AND revoked_at IS NULL AND (@keyId IS NULL OR id = @keyId);
        """;

    /// <summary>
    /// Does <paramref name="action"/> to the account <paramref name="userId"/> for <paramref name="actor"/>, with the reason (checked
    /// by the caller with <see cref="ReasonProblem"/>). <paramref name="keyId"/> names the key for <see cref="AccountChange.RevokeApiKey"/>.
    /// </summary>
    public async Task<AccountActionOutcome> RunAsync(AuditActor actor, string userId, AccountChange action, string reason, string? keyId = null,
        CancellationToken ct = default)
    {
        reason = reason.Trim();
        if (ReasonProblem(reason) is { } problem)
            throw new ArgumentException(problem, nameof(reason));
        if (action == AccountChange.RevokeApiKey && string.IsNullOrEmpty(keyId))
            throw new ArgumentException("Revoking one key needs its id", nameof(keyId));

        var outcome = await db.WriteAsync((c, tx) =>
        {
            var at = clock.GetUtcNow();
            var now = AccountLock.Format(at);
            if (Read(c, tx, userId, now) is not { } before)
                return new AccountActionOutcome(AccountActionStatus.NotFound, $"No customer has the id '{userId}'.");
            var who = before.Email ?? userId;
            if (actor.Id == userId && action is AccountChange.Lock or AccountChange.Demote)
                return new AccountActionOutcome(AccountActionStatus.Refused,
                    action == AccountChange.Lock
                        ? "You cannot lock your own account. Ask another admin if it must be locked."
                        : "You cannot revoke your own admin role. Ask another admin if it must go.",
                    Code: Shared.ProblemCodes.OwnAccount);

            object? extra = null;
            switch (action)
            {
                case AccountChange.ConfirmEmail:
                    if (before.EmailConfirmed)
                        return Unchanged($"{who}'s email address is already confirmed; nothing changed.", before);
                    c.Execute(ConfirmSql, new { userId, stamp = Guid.NewGuid().ToString() }, tx);
                    break;
                case AccountChange.Lock:
                    if (before.LockedUntil == "indefinitely")
                        return Unchanged($"{who} is already locked; nothing changed.", before);
                    if (before.Admin && c.ExecuteScalar<long>(OtherAdminsSql, new { userId, now }, tx) == 0)
                        return LastAdmin($"{who} is the only admin who can act: locking them would leave no admin. Make another admin first.");
                    c.Execute(LockSql, new
                    {
                        userId, until = AccountLock.IndefinitelyText, securityStamp = Guid.NewGuid().ToString("N").ToUpperInvariant(),
                        stamp = Guid.NewGuid().ToString(),
                    }, tx);
                    extra = new { SessionsEnded = c.Execute(EndSessionsSql, new { userId, at = at.UtcDateTime }, tx) };
                    break;
                case AccountChange.Unlock:
                    if (!before.Locked)
                        return Unchanged($"{who} is not locked; nothing changed.", before);
                    c.Execute(UnlockSql, new { userId, stamp = Guid.NewGuid().ToString() }, tx);
                    break;
                case AccountChange.Promote:
                    if (before.Admin)
                        return Unchanged($"{who} is already an admin; nothing changed.", before);
                    c.Execute(PromoteSql, new { userId, roleId = Guid.NewGuid().ToString(), stamp = Guid.NewGuid().ToString() }, tx);
                    break;
                case AccountChange.Demote:
                    if (!before.Admin)
                        return Unchanged($"{who} is not an admin; nothing changed.", before);
                    if (c.ExecuteScalar<long>(OtherAdminsSql, new { userId, now }, tx) == 0)
                        return LastAdmin($"{who} is the only admin who can act: revoking their role would leave no admin. Make another admin first.");
                    c.Execute(DemoteSql, new { userId }, tx);
                    extra = new { SessionsEnded = c.Execute(EndSessionsSql, new { userId, at = at.UtcDateTime }, tx) };
                    break;
                case AccountChange.RevokeApiKey:
                case AccountChange.RevokeAllApiKeys:
                    var only = action == AccountChange.RevokeApiKey ? keyId : null;
                    var live = c.Query<string>(LiveKeysSql, new { userId, keyId = only }, tx).AsList();
                    if (live.Count == 0)
                    {
                        if (only is not null && c.ExecuteScalar<long>(KeyExistsSql, new { userId, keyId = only }, tx) == 0)
                            return new AccountActionOutcome(AccountActionStatus.NotFound, $"{who} has no API key with the id '{only}'.");
                        return Unchanged(only is null ? $"{who} has no live API keys; nothing changed." : $"That key of {who} is already revoked; nothing changed.", before);
                    }
                    c.Execute(RevokeKeysSql, new { userId, keyId = only, at = at.UtcDateTime }, tx);
                    extra = new { RevokedApiKeys = live };
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(action));
            }

            var after = Read(c, tx, userId, now)!;
            var auditId = audit.Append(c, tx, actor, AuditAction(action), userId, reason, before, extra is null ? after : new { State = after, Done = extra });
            return new AccountActionOutcome(AccountActionStatus.Applied, Done(action, who), auditId, After: after);
        }, ct);

        if (outcome.Status == AccountActionStatus.Applied)
            logger.LogInformation("{Actor} ({ActorKind}) did {AccountChange} to user {UserId}: {Reason} (audit {AuditId})",
                actor.Id, actor.Kind, AuditAction(action), userId, reason, outcome.AuditId);
        return outcome;
    }

    private static AccountActionOutcome Unchanged(string message, AccountState state) => new(AccountActionStatus.Unchanged, message, After: state);

    private static AccountActionOutcome LastAdmin(string message) => new(AccountActionStatus.Refused, message, Code: Shared.ProblemCodes.LastAdmin);

    private static string Done(AccountChange action, string who) => action switch
    {
        AccountChange.ConfirmEmail => $"Confirmed {who}'s email address.",
        AccountChange.Lock => $"Locked {who}: their sessions ended and their API keys are refused until unlocked.",
        AccountChange.Unlock => $"Unlocked {who}.",
        AccountChange.Promote => $"{who} is now an admin.",
        AccountChange.Demote => $"{who} is no longer an admin; their sessions ended.",
        AccountChange.RevokeApiKey => $"Revoked the API key of {who}.",
        AccountChange.RevokeAllApiKeys => $"Revoked every API key of {who}.",
        _ => throw new ArgumentOutOfRangeException(nameof(action)),
    };
}
