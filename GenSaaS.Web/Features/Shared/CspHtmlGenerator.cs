using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Microsoft.AspNetCore.Mvc.Rendering;
using Microsoft.AspNetCore.Mvc.Routing;
using Microsoft.AspNetCore.Mvc.ViewFeatures;
using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Shared;

/// <summary>
/// The framework's HTML generator writes an empty validation summary as <c>&lt;li style="display:none"&gt;</c>, an inline style the
/// Content-Security-Policy refuses (and the browser reports). This one writes <c>&lt;li hidden&gt;</c>, which does the same without CSS.
/// It also serves the Identity UI pages, which are compiled into their package and cannot be edited.
/// </summary>
public sealed class CspHtmlGenerator(
    IAntiforgery antiforgery, IOptions<MvcViewOptions> options, IModelMetadataProvider metadata, IUrlHelperFactory urls,
    HtmlEncoder encoder, ValidationHtmlAttributeProvider validation)
    : DefaultHtmlGenerator(antiforgery, options, metadata, urls, encoder, validation)
{
    private const string HiddenByStyle = "<li style=\"display:none\"></li>";

    public override TagBuilder GenerateValidationSummary(ViewContext viewContext, bool excludePropertyErrors, string? message, string? headerTag, object? htmlAttributes)
    {
        var summary = base.GenerateValidationSummary(viewContext, excludePropertyErrors, message, headerTag, htmlAttributes);
        if (summary is null)
            return summary!;
        using var writer = new StringWriter();
        summary.InnerHtml.WriteTo(writer, HtmlEncoder.Default);
        var html = writer.ToString();
        if (html.Contains(HiddenByStyle, StringComparison.Ordinal))
        {
            summary.InnerHtml.Clear();
            summary.InnerHtml.AppendHtml(html.Replace(HiddenByStyle, "<li hidden></li>", StringComparison.Ordinal));
        }
        return summary;
    }
}
