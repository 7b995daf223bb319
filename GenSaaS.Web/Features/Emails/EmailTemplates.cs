using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.RegularExpressions;

namespace GenSaaS.Web.Features.Emails;

/// <summary>
/// Renders an <see cref="Email"/> from its two templates, <c>Templates/&lt;Name&gt;.txt</c> and <c>Templates/&lt;Name&gt;.html</c>
/// (embedded in the assembly), each wrapped in the matching <c>_Layout</c>. The text template's first line is
/// <c>Subject: …</c>. <c>{{Name}}</c> is replaced by the model's property of that name — HTML-encoded in the HTML part, as
/// is in the text part — and <c>{{#Name}}…{{/Name}}</c> is kept only when that property has a value. A placeholder the model
/// lacks, or one whose value is missing outside such a section, is an error, never an empty gap in a customer's mail.
/// </summary>
public sealed partial class EmailTemplates
{
    private const string ResourcePrefix = "EmailTemplates/";
    private const string SubjectPrefix = "Subject: ";
    private const string BodySlot = "{{Body}}";
    private static readonly Assembly Assembly = typeof(EmailTemplates).Assembly;
    private static readonly ConcurrentDictionary<string, string> Cache = new(StringComparer.Ordinal);

    /// <summary>Every template name that has at least one of its two files (layouts excluded).</summary>
    public static IReadOnlyList<string> Names() =>
        Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            .Select(n => Path.GetFileNameWithoutExtension(n[ResourcePrefix.Length..]))
            .Where(n => !n.StartsWith('_'))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>The template's file, or null when it has none of that extension.</summary>
    public static string? Source(string name, string extension) =>
        Cache.GetOrAdd($"{name}.{extension}", file =>
        {
            using var stream = Assembly.GetManifestResourceStream(ResourcePrefix + file);
            if (stream is null)
                return "";
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd().ReplaceLineEndings("\n");
        }) is { Length: > 0 } source ? source : null;

    public MailMessage Render(Email email, string to)
    {
        var name = email.TemplateName;
        var values = Values(email);
        var text = Source(name, "txt") ?? throw new InvalidOperationException($"Email template Templates/{name}.txt is missing");
        var html = Source(name, "html") ?? throw new InvalidOperationException($"Email template Templates/{name}.html is missing");

        if (!text.StartsWith(SubjectPrefix, StringComparison.Ordinal))
            throw new InvalidOperationException($"Templates/{name}.txt must start with a '{SubjectPrefix}' line");
        var lineEnd = text.IndexOf('\n');
        var subject = Fill(name, lineEnd < 0 ? text[SubjectPrefix.Length..] : text[SubjectPrefix.Length..lineEnd], values, encode: false).Trim();
        var textBody = Fill(name, lineEnd < 0 ? "" : text[(lineEnd + 1)..], values, encode: false).Trim('\n');
        var htmlBody = Fill(name, html, values, encode: true).Trim('\n');

        var layoutValues = new Dictionary<string, string?>(StringComparer.Ordinal) { ["Subject"] = subject, ["To"] = to };
        return new MailMessage(to, subject,
            Layout("_Layout.txt", textBody, layoutValues, encode: false),
            Layout("_Layout.html", htmlBody, layoutValues, encode: true));
    }

    private static string Layout(string file, string body, IReadOnlyDictionary<string, string?> values, bool encode)
    {
        var extension = Path.GetExtension(file)[1..];
        var layout = Source("_Layout", extension) ?? throw new InvalidOperationException($"Email template Templates/{file} is missing");
        var slot = layout.IndexOf(BodySlot, StringComparison.Ordinal);
        if (slot < 0)
            throw new InvalidOperationException($"Templates/{file} has no {BodySlot}");
        // The body is already rendered (and encoded): it goes in as it is, around it only the layout's own placeholders.
        return Fill(file, layout[..slot], values, encode) + body + Fill(file, layout[(slot + BodySlot.Length)..], values, encode);
    }

    private static string Fill(string template, string source, IReadOnlyDictionary<string, string?> values, bool encode)
    {
        var withSections = Section().Replace(source, match =>
            Lookup(template, values, match.Groups[1].Value) is { Length: > 0 } ? match.Groups[2].Value : "");
        return Placeholder().Replace(withSections, match =>
        {
            var key = match.Groups[1].Value;
            var value = Lookup(template, values, key)
                ?? throw new InvalidOperationException($"Email template {template} uses {{{{{key}}}}} outside a {{{{#{key}}}}} section, but it has no value");
            return encode ? HtmlEncoder.Default.Encode(value) : value;
        });
    }

    private static string? Lookup(string template, IReadOnlyDictionary<string, string?> values, string key) =>
        values.TryGetValue(key, out var value)
            ? value
            : throw new InvalidOperationException($"Email template {template} uses {{{{{key}}}}}, which its model does not have");

    /// <summary>The model's public properties by name, formatted without regard to the server's culture.</summary>
    public static IReadOnlyDictionary<string, string?> Values(Email email) =>
        email.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.Name != nameof(Email.TemplateName))
            .ToDictionary(p => p.Name, p => p.GetValue(email) switch
            {
                null => null,
                string s => s,
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                var other => other.ToString(),
            }, StringComparer.Ordinal);

    [GeneratedRegex(@"\{\{#(\w+)\}\}(.*?)\{\{/\1\}\}", RegexOptions.Singleline)]
    private static partial Regex Section();

    [GeneratedRegex(@"\{\{(\w+)\}\}")]
    private static partial Regex Placeholder();
}
