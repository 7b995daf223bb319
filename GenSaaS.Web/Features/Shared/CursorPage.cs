namespace GenSaaS.Web.Features.Shared;

/// <summary>Cursor-paged lists read one row more than they show: that row only says whether there is a next page.</summary>
public static class CursorPage
{
    /// <summary>Drops the look-ahead row read past <paramref name="limit"/> and says whether there was one (Stripe's <c>has_more</c>).</summary>
    public static bool TrimLookAhead<T>(List<T> rows, int limit)
    {
        if (rows.Count <= limit)
            return false;
        rows.RemoveRange(limit, rows.Count - limit);
        return true;
    }
}
