using System.Globalization;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Features.Admin;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Flags;

/// <summary>
/// <c>/admin/flags</c>: every feature flag (on or off, percentage, listed accounts, message, what it does when off), and
/// <c>/admin/flags/{name}</c> the form that changes one: Review repeats the change before and after, Confirm applies it through
/// <see cref="FlagStore"/> (one audit entry in the same transaction). The form carries the flag's version when it was shown:
/// confirming twice or from a second tab changes it once (the store writes nothing when nothing changes), and a flag changed by
/// someone else since is refused.
/// </summary>
[Authorize(Policy = Roles.Admin)]
public sealed class FlagsPage(FlagStore store, FlagAccounts accounts) : PageModel
{
    public sealed record FlagInput
    {
        public bool? Enabled { get; init; }
        public string? Percentage { get; init; }
        public string? Accounts { get; init; }
        public string? Message { get; init; }
        public string? Reason { get; init; }
        public long Version { get; init; }
    }

    public sealed record FlagRow(FlagState State, FlagNames.FlagInfo Info, IReadOnlyList<FlagAccounts.Account> Accounts);

    [BindProperty(SupportsGet = true, Name = "name")]
    public string? Name { get; set; }

    [BindProperty]
    public FlagInput Input { get; set; } = new();

    [TempData]
    public string? StatusMessage { get; set; }

    public IReadOnlyList<FlagRow> Flags { get; private set; } = [];

    /// <summary>The flag being edited (null on the list alone).</summary>
    public FlagRow? Editing { get; private set; }

    /// <summary>True on the confirmation step: the change is repeated with a Confirm button; nothing has changed yet.</summary>
    public bool Confirming { get; private set; }

    /// <summary>The flag as it would be after the change (on the confirmation step).</summary>
    public FlagState? Wanted { get; private set; }

    public IReadOnlyList<FlagAccounts.Account> WantedAccounts { get; private set; } = [];

    private async Task<bool> LoadAsync(CancellationToken ct)
    {
        var rows = new List<FlagRow>();
        foreach (var state in await store.ReadAllAsync(ct))
            rows.Add(new FlagRow(state, FlagNames.Find(state.Name)!, await accounts.DescribeAsync(state.Accounts, ct)));
        Flags = rows;
        if (Name is null)
            return true;
        Editing = rows.FirstOrDefault(r => r.State.Name == Name);
        return Editing is not null;
    }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct))
            return NotFound();
        if (Editing is { } e)
            Input = new FlagInput
            {
                Enabled = e.State.Enabled,
                Percentage = e.State.Percentage.ToString(CultureInfo.InvariantCulture),
                Accounts = string.Join("\n", e.Accounts.Select(a => a.Email ?? a.Id)),
                Message = e.State.Message,
                Version = e.State.Version,
            };
        return Page();
    }

    /// <summary>Checks the form and resolves the accounts; null (with the errors in ModelState) when it is refused.</summary>
    private async Task<FlagUpdate?> ValidateAsync(CancellationToken ct)
    {
        ModelState.Clear();
        int? percentage = null;
        if (!int.TryParse(Input.Percentage?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 0 or > 100)
            ModelState.AddModelError("Input.Percentage", "The percentage is a whole number from 0 to 100.");
        else
            percentage = p;
        if (Input.Enabled is null)
            ModelState.AddModelError("Input.Enabled", "Choose on or off.");
        if (Input.Message is { } m && m.Trim().Length > FlagStore.MaxMessageLength)
            ModelState.AddModelError("Input.Message", $"Keep the message under {FlagStore.MaxMessageLength} characters.");
        if (string.IsNullOrWhiteSpace(Input.Reason))
            ModelState.AddModelError("Input.Reason", "Say why: the reason goes into the audit log.");
        else if (Input.Reason.Trim().Length > FlagStore.MaxReasonLength)
            ModelState.AddModelError("Input.Reason", $"Keep the reason under {FlagStore.MaxReasonLength} characters.");
        var given = (Input.Accounts ?? "").Split([',', ';', '\n', '\r', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        List<string> ids = [];
        if (given.Length > FlagStore.MaxAccounts)
            ModelState.AddModelError("Input.Accounts", $"List at most {FlagStore.MaxAccounts} accounts.");
        else
        {
            (ids, var unknown) = await accounts.ResolveAsync(given, ct);
            if (unknown.Count > 0)
                ModelState.AddModelError("Input.Accounts", $"No account has the email or id: {string.Join(", ", unknown.Take(10))}. Nothing changed.");
        }
        if (!ModelState.IsValid)
            return null;
        return new FlagUpdate(Input.Enabled, percentage, ids, Input.Message, SetMessage: true);
    }

    /// <summary>The confirmation step: nothing changes yet.</summary>
    public async Task<IActionResult> OnPostReviewAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct) || Editing is null)
            return NotFound();
        if (await ValidateAsync(ct) is not { } update)
            return Page();
        Wanted = update.ApplyTo(Editing.State);
        WantedAccounts = await accounts.DescribeAsync(Wanted.Accounts, ct);
        Confirming = true;
        return Page();
    }

    public async Task<IActionResult> OnPostApplyAsync(CancellationToken ct)
    {
        if (!await LoadAsync(ct) || Editing is null)
            return NotFound();
        if (await ValidateAsync(ct) is not { } update)
            return Page();
        var outcome = await store.SetAsync(AuditActor.From(User), Editing.State.Name, update, Input.Reason!, Input.Version, ct);
        switch (outcome.Status)
        {
            case FlagSetStatus.Conflict:
                ModelState.AddModelError("", "Someone changed this flag since the form was shown. Nothing changed; the form now shows the flag as it is.");
                await OnGetAsync(ct);
                return Page();
            case FlagSetStatus.Unchanged:
                StatusMessage = $"The flag {outcome.After.Name} already was like that; nothing changed and nothing was written to the audit log.";
                break;
            default:
                StatusMessage = $"The flag {outcome.After.Name} changed (audit entry {AuditLog.IdPrefix}{outcome.AuditId?.ToString(CultureInfo.InvariantCulture)}); it applies here at once and on other processes within seconds.";
                break;
        }
        return Redirect("/admin/flags");
    }

    public static string Describe(FlagState s) =>
        !s.Enabled ? "off for everyone" : s.Percentage == 100 ? "on for everyone" : $"on for {s.Percentage} % of users" + (s.Accounts.Count > 0 ? " and the listed accounts" : "");
}
