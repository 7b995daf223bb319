using System.Globalization;
using System.Text.Json.Nodes;

namespace GenSaaS.StripeEmulator;

/// <summary>
/// Stripe's form encoding turned into a tree: <c>line_items[0][price]=x</c>, <c>expand[]=y</c> and
/// <c>metadata[k]=v</c> become arrays and objects; every leaf stays a string, as Stripe receives it.
/// </summary>
internal sealed class FormParams(JsonObject root)
{
    public JsonObject Root { get; } = root;

    public static FormParams Parse(IEnumerable<KeyValuePair<string, string>> pairs)
    {
        var root = new JsonObject();
        foreach (var (key, value) in pairs)
            Insert(root, Segments(key), value);
        return new FormParams((JsonObject)Normalize(root)!);
    }

    private static List<string> Segments(string key)
    {
        var open = key.IndexOf('[');
        if (open < 0) return [key];
        var segments = new List<string> { key[..open] };
        var rest = key[open..];
        while (rest.StartsWith('['))
        {
            var close = rest.IndexOf(']');
            if (close < 0) break;
            segments.Add(rest[1..close]);
            rest = rest[(close + 1)..];
        }
        return segments;
    }

    private static void Insert(JsonObject node, List<string> segments, string value)
    {
        for (var i = 0; i < segments.Count; i++)
        {
            // "[]" appends: give it the next free index so it turns into an array below.
            var key = segments[i].Length == 0 ? node.Count.ToString(CultureInfo.InvariantCulture) : segments[i];
            if (i == segments.Count - 1)
            {
                node[key] = value;
                return;
            }
            if (node[key] is not JsonObject child)
            {
                child = new JsonObject();
                node[key] = child;
            }
            node = child;
        }
    }

    private static JsonNode? Normalize(JsonNode? node)
    {
        if (node is not JsonObject obj) return node?.DeepClone();
        var keys = obj.Select(p => p.Key).ToList();
        if (keys.Count > 0 && keys.All(k => int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            return new JsonArray(keys.OrderBy(k => int.Parse(k, CultureInfo.InvariantCulture)).Select(k => Normalize(obj[k])).ToArray());
        var copy = new JsonObject();
        foreach (var key in keys)
            copy[key] = Normalize(obj[key]);
        return copy;
    }

    public bool Has(string name) => Root.ContainsKey(name);

    public string? Str(string name) => Str(Root, name);

    public static string? Str(JsonObject? obj, string name) => obj?[name] is JsonValue v ? v.ToString() : null;

    public string Required(string name) => Str(name) is { Length: > 0 } s ? s : throw StripeApiException.MissingParam(name);

    public long? Long(string name) => Long(Root, name);

    public static long? Long(JsonObject? obj, string name)
    {
        var s = Str(obj, name);
        if (string.IsNullOrEmpty(s)) return null;
        return long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw StripeApiException.Invalid($"Invalid integer: {s}", name);
    }

    public bool? Bool(string name)
    {
        var s = Str(name);
        return s is null ? null : s is "true" or "1";
    }

    public JsonObject? Obj(string name) => Root[name] as JsonObject;

    public IReadOnlyList<JsonNode?> Arr(string name) => Root[name] switch
    {
        JsonArray a => a.ToList(),
        JsonValue v => [v],
        _ => [],
    };

    public IReadOnlyList<string> Strings(string name) => Arr(name).Select(n => n?.ToString() ?? "").ToList();

    /// <summary>Applies <c>metadata[k]=v</c> the way Stripe does: keys are merged, an empty value deletes the key.</summary>
    public static void MergeMetadata(JsonObject target, JsonObject? metadata)
    {
        if (metadata is null) return;
        var current = target["metadata"] as JsonObject ?? new JsonObject();
        foreach (var (key, value) in metadata)
        {
            var text = value?.ToString() ?? "";
            if (text.Length == 0) current.Remove(key);
            else current[key] = text;
        }
        target["metadata"] = current;
    }
}
