using Microsoft.AspNetCore.Mvc.ModelBinding;

namespace GenSaaS.Web.Features.Legal;

/// <summary>
/// The "I accept" box of a sign-up form and of <c>/legal/accept</c>: which documents it names and the versions the page showed
/// (<see cref="Stamp"/>, posted back in a hidden field), so an acceptance is recorded only for the versions the person saw.
/// </summary>
public sealed record LegalConsent(IReadOnlyList<LegalDocument> Documents)
{
    /// <summary>The form field of the box (<c>value="true"</c>; an unticked box sends nothing).</summary>
    public const string AcceptField = "AcceptLegal";

    /// <summary>The hidden form field carrying <see cref="Stamp"/>.</summary>
    public const string StampField = "LegalStamp";

    /// <summary>Nothing is published, so nothing is asked.</summary>
    public bool Asked => Documents.Count > 0;

    public string Stamp => StampOf(Documents);

    public static string StampOf(IEnumerable<LegalDocument> documents) => string.Join(";", documents.Select(d => d.Name + "=" + d.Version));

    /// <summary>"the terms of service and the privacy policy", "the terms of service", ….</summary>
    public string Names => string.Join(" and ", Documents.Select(d => "the " + d.Title.ToLowerInvariant()));

    /// <summary>
    /// Adds the form's error when the box was not ticked or the documents changed since the page was shown; true when the
    /// acceptance may be recorded.
    /// </summary>
    public bool Check(ModelStateDictionary modelState, bool accepted, string? postedStamp, string toDo)
    {
        if (!Asked)
            return true;
        if (!accepted)
        {
            modelState.AddModelError(AcceptField, $"Tick the box to accept {Names} {toDo}.");
            return false;
        }
        if (!string.Equals(postedStamp, Stamp, StringComparison.Ordinal))
        {
            modelState.AddModelError(AcceptField, $"The {string.Join(" or ", Documents.Select(d => d.Title.ToLowerInvariant()))} changed while this page was open: read {(Documents.Count > 1 ? "them" : "it")} again and tick the box.");
            return false;
        }
        return true;
    }
}
