using GenSaaS.Web.Features.Generation;
using Htmx;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Dashboard;

/// <summary>A page of one of the customer's histories as its partial shows it: the page, the cursor it starts after (null: the newest), the page size asked for and a note.</summary>
public sealed record HistoryView<TPage>(TPage Page, string? StartingAfter, int Limit, string Path, string? Notice = null) where TPage : class
{
    /// <summary>The link to the page after <paramref name="startingAfter"/> (null: the newest), keeping a page size that is not the default.</summary>
    public string Link(string? startingAfter)
    {
        var size = Limit == HistoryPageModel<TPage>.DefaultLimit ? null : $"limit={Limit}";
        var query = startingAfter is null ? size : $"starting_after={Uri.EscapeDataString(startingAfter)}" + (size is null ? "" : "&" + size);
        return query is null ? Path : $"{Path}?{query}";
    }
}

/// <summary>
/// A customer's history page (<c>/dashboard/credits</c>, <c>/dashboard/payments</c>): a page at a time by cursor, newest first.
/// <c>limit</c> (1-100) is checked before this runs (QueryGuard); a cursor that is not one of the customer's shows the newest
/// page with a note rather than an error, as the image history does. An htmx request aimed at the list gets the list alone.
/// </summary>
public abstract class HistoryPageModel<TPage>(string path, string target, string partial, TPage empty, string notFound) : PageModel
    where TPage : class
{
    public const int DefaultLimit = 25;

    public HistoryView<TPage> History { get; private set; } = new(empty, null, DefaultLimit, path);

    /// <summary>The customer's page after <paramref name="startingAfter"/>, or null when that cursor is not one of theirs.</summary>
    protected abstract Task<TPage?> ReadAsync(string userId, int limit, string? startingAfter, CancellationToken ct);

    public async Task<IActionResult> OnGetAsync([FromQuery(Name = "starting_after")] string? startingAfter, int? limit, CancellationToken ct)
    {
        var userId = GenerationApi.UserId(User);
        var size = limit ?? DefaultLimit;
        var after = string.IsNullOrEmpty(startingAfter) ? null : startingAfter;
        History = await ReadAsync(userId, size, after, ct) is { } page
            ? new HistoryView<TPage>(page, after, size, path)
            : new HistoryView<TPage>(await ReadAsync(userId, size, null, ct) ?? empty, null, size, path, notFound);
        Response.Headers.Vary = "HX-Request";
        if (Request.IsHtmx() && string.Equals(Request.Headers["HX-Target"], target, StringComparison.Ordinal))
            return Partial(partial, History);
        return Page();
    }
}
