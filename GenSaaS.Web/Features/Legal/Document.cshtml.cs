using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace GenSaaS.Web.Features.Legal;

/// <summary><c>/terms</c> and <c>/privacy</c>: the operator's document rendered from Markdown, or a note that there is none.</summary>
[AllowAnonymous]
public sealed class Document(LegalDocuments documents) : PageModel
{
    public string Title { get; private set; } = "";

    /// <summary>Null when the operator has not published this document.</summary>
    public LegalDocument? Published { get; private set; }

    public void OnGet(string name)
    {
        Title = LegalDocuments.Known.Single(k => k.Name == name).Title;
        Published = documents.Get(name);
    }
}
