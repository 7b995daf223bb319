namespace GenSaaS.Web.Features.Billing.Webhooks;

/// <summary>
/// What one apply of a Stripe event changed, in the applier's own words at the place it wrote (or found the write already
/// done), so an admin's replay can say exactly that instead of a guess. Only a replay opens one (<see cref="Begin"/>); on a
/// webhook delivery there is none and every note is a no-op. It flows with the async call (an <see cref="AsyncLocal{T}"/>),
/// so the applier's many paths note what they did without each taking a parameter only replays use.
/// </summary>
public sealed class StripeApplyReport
{
    private static readonly AsyncLocal<StripeApplyReport?> Active = new();

    private readonly List<string> _changed = [];
    private readonly List<string> _unchanged = [];

    /// <summary>What this apply wrote: "granted 100 prepaid credits to …".</summary>
    public IReadOnlyList<string> Changed => _changed;

    /// <summary>What this apply found already so and left alone: "the credits of … were already granted".</summary>
    public IReadOnlyList<string> Unchanged => _unchanged;

    /// <summary>True while a replay is collecting notes: the applier may then read what it needs to compare before and after.</summary>
    public static bool IsCollecting => Active.Value is not null;

    /// <summary>Starts collecting for the calls made until the returned scope is disposed.</summary>
    public static Scope Begin(out StripeApplyReport report)
    {
        report = new StripeApplyReport();
        var previous = Active.Value;
        Active.Value = report;
        return new Scope(previous);
    }

    public static void NoteChanged(string what)
    {
        if (Active.Value is { } report)
            lock (report._changed)
                report._changed.Add(what);
    }

    public static void NoteUnchanged(string what)
    {
        if (Active.Value is { } report)
            lock (report._unchanged)
                report._unchanged.Add(what);
    }

    public readonly struct Scope(StripeApplyReport? previous) : IDisposable
    {
        public void Dispose() => Active.Value = previous;
    }
}
