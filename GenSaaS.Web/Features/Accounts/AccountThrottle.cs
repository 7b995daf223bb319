using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>The <c>Accounts:Throttle</c> section: how often one address or one client may use the account forms.</summary>
public sealed class AccountThrottleOptions
{
    /// <summary>Attempts per address and form within the window (sign-in counts failures only).</summary>
    [Range(1, 1_000_000)] public int PerAddress { get; set; } = 5;

    /// <summary>Attempts per client IP address within the window, all account forms together.</summary>
    [Range(1, 10_000_000)] public int PerIp { get; set; } = 100;

    /// <summary>Length of the sliding window, in minutes.</summary>
    [Range(1, 1440)] public int WindowMinutes { get; set; } = 10;
}

/// <summary>The account forms that send mail or check a password, each with its own per-address allowance.</summary>
public enum AccountAction { SignIn, Register, ForgotPassword, ResendConfirmation, MagicLink }

/// <summary>
/// Sliding-window counts per client IP and per (form, address), kept in memory: right for one app process (one container);
/// several instances would each allow the full count. Unknown and known addresses are counted alike, so the
/// answer never tells whether an account exists.
/// </summary>
public sealed class AccountThrottle(IOptions<AccountThrottleOptions> options, TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _windows = new(StringComparer.Ordinal);
    private DateTimeOffset _nextSweep = DateTimeOffset.MinValue;

    private TimeSpan Window => TimeSpan.FromMinutes(options.Value.WindowMinutes);

    /// <summary>
    /// Counts one attempt of <paramref name="action"/> from this client for <paramref name="email"/>, or refuses it:
    /// the time to wait when the client or the address has used up its allowance, else null.
    /// A sign-in counts for the address only through <see cref="SignInFailed"/>.
    /// </summary>
    public TimeSpan? TryAttempt(HttpContext http, AccountAction action, string? email)
    {
        var now = clock.GetUtcNow();
        Sweep(now);
        var ipKey = "ip:" + (http.Connection.RemoteIpAddress?.ToString() ?? "unknown");
        var addressKey = AddressKey(action, email);
        if (addressKey is not null && Wait(addressKey, options.Value.PerAddress, now) is { } addressWait)
            return addressWait;
        if (Take(ipKey, options.Value.PerIp, now) is { } ipWait)
            return ipWait;
        if (addressKey is not null && action != AccountAction.SignIn)
            Take(addressKey, int.MaxValue, now);
        return null;
    }

    /// <summary>A wrong password, an unknown address, or an account that may not sign in.</summary>
    public void SignInFailed(string? email)
    {
        if (AddressKey(AccountAction.SignIn, email) is { } key)
            Take(key, int.MaxValue, clock.GetUtcNow());
    }

    private static string? AddressKey(AccountAction action, string? email) =>
        string.IsNullOrWhiteSpace(email) ? null : $"{action}:{email.Trim().ToUpperInvariant()}";

    private TimeSpan? Wait(string key, int limit, DateTimeOffset now)
    {
        if (!_windows.TryGetValue(key, out var times))
            return null;
        lock (times)
        {
            Expire(times, now);
            return times.Count >= limit ? RetryAfter(times, now) : null;
        }
    }

    private TimeSpan? Take(string key, int limit, DateTimeOffset now)
    {
        var times = _windows.GetOrAdd(key, _ => new Queue<DateTimeOffset>());
        lock (times)
        {
            Expire(times, now);
            if (times.Count >= limit)
                return RetryAfter(times, now);
            times.Enqueue(now);
            return null;
        }
    }

    private void Expire(Queue<DateTimeOffset> times, DateTimeOffset now)
    {
        while (times.Count > 0 && times.Peek() <= now - Window)
            times.Dequeue();
    }

    private TimeSpan RetryAfter(Queue<DateTimeOffset> times, DateTimeOffset now)
    {
        var wait = times.Peek() + Window - now;
        return wait < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : wait;
    }

    // Addresses are chosen by whoever calls: without this, made-up addresses would fill memory for ever.
    private void Sweep(DateTimeOffset now)
    {
        if (now < _nextSweep)
            return;
        _nextSweep = now + TimeSpan.FromMinutes(1);
        foreach (var (key, times) in _windows)
        {
            lock (times)
            {
                Expire(times, now);
                if (times.Count == 0)
                    _windows.TryRemove(new KeyValuePair<string, Queue<DateTimeOffset>>(key, times));
            }
        }
    }

    /// <summary>
    /// The 429 answer with <c>Retry-After</c>: problem+json for API clients and callers that ask for JSON,
    /// else the form page itself with the reason shown.
    /// </summary>
    public static async Task<IActionResult> RefuseAsync(PageModel page, TimeSpan retryAfter)
    {
        var http = page.HttpContext;
        http.RequestServices.GetRequiredService<Operations.AppMetrics>().RateLimited.WithLabels("account").Inc();
        var seconds = (int)Math.Ceiling(retryAfter.TotalSeconds);
        var minutes = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalMinutes));
        var message = $"Too many attempts. Try again in {minutes} minute{(minutes == 1 ? "" : "s")}.";
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        if (WantsJson(http.Request))
        {
            await Problems.WriteAsync(http, StatusCodes.Status429TooManyRequests, ProblemCodes.RateLimited, "Too many requests.", message);
            return new EmptyResult();
        }
        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        page.ModelState.Clear();
        page.ModelState.AddModelError(string.Empty, message);
        return page.Page();
    }

    private static bool WantsJson(HttpRequest request)
    {
        if (Problems.IsApiRequest(request))
            return true;
        var accept = request.Headers.Accept.ToString();
        return accept.Contains("json", StringComparison.OrdinalIgnoreCase) && !accept.Contains("text/html", StringComparison.OrdinalIgnoreCase);
    }
}
