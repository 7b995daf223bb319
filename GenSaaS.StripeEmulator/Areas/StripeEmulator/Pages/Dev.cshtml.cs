using Dapper;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.StripeEmulator;

/// <summary>Developer controls of the emulator: its clock, delivery faults, and the latest events and deliveries.</summary>
public sealed class Dev(IServiceProvider services) : PageModel
{
    public EmulatedStripe? Emulator { get; private set; }

    public IReadOnlyList<DeliveryRow> Deliveries { get; private set; } = [];

    [TempData] public string? StatusMessage { get; set; }

    /// <summary>The emulated account's Stripe Tax status: <c>pending</c> until a head office is set through the API.</summary>
    public string TaxStatus { get; private set; } = "";

    public sealed record DeliveryRow(string EventId, string Type, string Status, long Attempts, long? LastStatus, string? LastError, string? LastUrl);

    private bool Allowed()
    {
        Emulator = services.GetService<EmulatedStripe>();
        return EmulatorSetup.CanUseDevControls(HttpContext);
    }

    private const string SelectDeliveries = """
        SELECT d.event_id AS EventId, e.type AS Type, d.status AS Status, d.attempts AS Attempts, d.last_status AS LastStatus, d.last_error AS LastError, d.last_url AS LastUrl
        FROM deliveries d JOIN events e ON e.id = d.event_id
        ORDER BY d.id DESC
        LIMIT 50;
        """;

    public async Task<IActionResult> OnGetAsync()
    {
        if (!Allowed()) return NotFound();
        TaxStatus = await Emulator!.TaxStatusAsync();
        await using var connection = await Emulator.Store.OpenAsync();
        Deliveries = (await connection.QueryAsync<(string EventId, string Type, string Status, long Attempts, long? LastStatus, string? LastError, string? LastUrl)>(SelectDeliveries))
            .Select(r => new DeliveryRow(r.EventId, r.Type, r.Status, r.Attempts, r.LastStatus, r.LastError, r.LastUrl)).ToList();
        return Page();
    }

    public async Task<IActionResult> OnPostAdvanceAsync(int days)
    {
        if (!Allowed()) return NotFound();
        var now = await Emulator!.AdvanceClockAsync(TimeSpan.FromDays(Math.Max(days, 1)));
        StatusMessage = $"Clock is now {now:yyyy-MM-dd HH:mm} UTC.";
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostFaultsAsync(bool duplicate, bool delay, bool shuffle, bool drop)
    {
        if (!Allowed()) return NotFound();
        var faults = (duplicate ? DeliveryFaults.Duplicate : 0) | (delay ? DeliveryFaults.Delay : 0) | (shuffle ? DeliveryFaults.Shuffle : 0) | (drop ? DeliveryFaults.Drop : 0);
        await Emulator!.SetFaultsAsync(faults);
        StatusMessage = $"Delivery faults: {faults}.";
        return RedirectToPage();
    }

    public IActionResult OnPostApiFaults(int rateLimit, int serverError, int timeout, int holdSeconds, string? route)
    {
        if (!Allowed()) return NotFound();
        var faults = new ApiFaults { RateLimitPercent = rateLimit, ServerErrorPercent = serverError, TimeoutPercent = timeout, HoldSeconds = holdSeconds, Route = route };
        if (faults.Problem() is { } problem)
        {
            StatusMessage = problem;
            return RedirectToPage();
        }
        Emulator!.SetApiFaults(faults);
        StatusMessage = $"API faults: {faults}.";
        return RedirectToPage();
    }
}
