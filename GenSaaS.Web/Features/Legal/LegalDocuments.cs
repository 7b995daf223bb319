using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using GenSaaS.Web.Data;
using Markdig;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace GenSaaS.Web.Features.Legal;

/// <summary>One of the operator's legal documents as published now: its version and its Markdown rendered to safe HTML.</summary>
public sealed record LegalDocument(string Name, string Title, string Path, string Version, string Html);

/// <summary>
/// The operator's terms of service and privacy policy: <c>legal/terms.md</c> and <c>legal/privacy.md</c> in the data folder
/// (<c>App:DataDir</c>). A file's version is the <c>version:</c> line of its front matter, else <c>sha256:</c> and the first
/// 16 hex digits of the file's SHA-256, so an edit without a version line asks everyone again. A file is read again when its
/// size or modification time changes, so publishing a new version needs no restart.
/// </summary>
public sealed class LegalDocuments(AppPaths paths)
{
    /// <summary>The documents the app knows, in the order they are shown: name (file and table value), title, page.</summary>
    public static readonly IReadOnlyList<(string Name, string Title, string Path)> Known =
    [
        ("terms", "Terms of service", "/terms"),
        ("privacy", "Privacy policy", "/privacy"),
    ];

    /// <summary>The longest version the front matter may give; longer ones are cut (they are stored with every acceptance).</summary>
    public const int MaxVersionLength = 64;

    // The raw HTML a Markdown file may carry is shown as text, and only CommonMark plus tables are understood: no extension
    // that lets Markdown set attributes (generic attributes would allow onclick=...).
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .DisableHtml()
        .UsePipeTables()
        .UseAutoIdentifiers()
        .Build();

    private sealed record Cached(long Length, DateTime Modified, LegalDocument? Document);

    private readonly ConcurrentDictionary<string, Cached> _cache = new(StringComparer.Ordinal);

    public string Folder => System.IO.Path.Combine(paths.DataDir, "legal");

    public string FileOf(string name) => System.IO.Path.Combine(Folder, name + ".md");

    /// <summary>The document as published now, or null when its file does not exist (or is empty).</summary>
    public LegalDocument? Get(string name)
    {
        var known = Known.Single(k => k.Name == name);
        var file = new FileInfo(FileOf(name));
        if (!file.Exists)
        {
            _cache.TryRemove(name, out _);
            return null;
        }
        if (_cache.TryGetValue(name, out var cached) && cached.Length == file.Length && cached.Modified == file.LastWriteTimeUtc)
            return cached.Document;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(file.FullName);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        var document = bytes.Length == 0 ? null : Parse(known, bytes);
        _cache[name] = new Cached(file.Length, file.LastWriteTimeUtc, document);
        return document;
    }

    /// <summary>Every document whose file exists, in <see cref="Known"/> order.</summary>
    public IReadOnlyList<LegalDocument> Published() =>
        Known.Select(k => Get(k.Name)).OfType<LegalDocument>().ToList();

    internal static LegalDocument Parse((string Name, string Title, string Path) known, byte[] bytes)
    {
        var text = Encoding.UTF8.GetString(bytes).TrimStart('\uFEFF').ReplaceLineEndings("\n");
        var (version, body) = SplitFrontMatter(text);
        version ??= "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes))[..16];
        return new LegalDocument(known.Name, known.Title, known.Path, version, Render(body));
    }

    /// <summary>The <c>version:</c> of a leading <c>---</c> block (quotes taken off), and the Markdown after the block.</summary>
    internal static (string? Version, string Body) SplitFrontMatter(string text)
    {
        if (!text.StartsWith("---\n", StringComparison.Ordinal))
            return (null, text);
        var end = text.IndexOf("\n---", 3, StringComparison.Ordinal);
        if (end < 0)
            return (null, text);
        var afterFence = text.IndexOf('\n', end + 4);
        var body = afterFence < 0 ? "" : text[(afterFence + 1)..];
        string? version = null;
        foreach (var line in text[4..end].Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon > 0 && line[..colon].Trim().Equals("version", StringComparison.OrdinalIgnoreCase))
                version = line[(colon + 1)..].Trim().Trim('"', '\'').Trim();
        }
        if (string.IsNullOrEmpty(version) || version.Any(char.IsControl))
            return (null, body);
        return (version.Length > MaxVersionLength ? version[..MaxVersionLength] : version, body);
    }

    /// <summary>Markdown to HTML with raw HTML escaped and every link or image whose scheme is not a web, mail or phone one emptied.</summary>
    internal static string Render(string markdown)
    {
        var document = Markdown.Parse(markdown, Pipeline);
        foreach (var link in document.Descendants<LinkInline>())
            if (!IsSafeUrl(link.Url))
                link.Url = "#";
        foreach (var autolink in document.Descendants<AutolinkInline>())
            if (!autolink.IsEmail && !IsSafeUrl(autolink.Url))
                autolink.Url = "#";
        return document.ToHtml(Pipeline);
    }

    private static readonly string[] SafeSchemes = ["http", "https", "mailto", "tel"];

    /// <summary>A relative address, a fragment, or one with an allowed scheme (control characters and spaces ignored, as browsers do).</summary>
    internal static bool IsSafeUrl(string? url)
    {
        if (string.IsNullOrEmpty(url))
            return true;
        var compact = new string(url.Where(c => !char.IsControl(c) && !char.IsWhiteSpace(c)).ToArray());
        var colon = compact.IndexOf(':');
        if (colon < 0)
            return true;
        var firstDelimiter = compact.IndexOfAny(['/', '?', '#']);
        if (firstDelimiter >= 0 && firstDelimiter < colon)
            return true;
        return SafeSchemes.Contains(compact[..colon], StringComparer.OrdinalIgnoreCase);
    }
}
