using GenSaaS.Web.Features.Shared;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace GenSaaS.Web.Features.Emails;

/// <summary>
/// Absolute links for emails sent by background jobs, which have no request: <c>App:PublicBaseUrl</c>; without it
/// (Development and tests only, Production refuses to start) the address the app listens on. Never a request's Host.
/// </summary>
public sealed class EmailLinks(PublicAddress publicAddress, IServer server)
{
    public string BaseUrl =>
        publicAddress.Configured
        ?? server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()?.TrimEnd('/')
        ?? "http://localhost";

    /// <summary>
    /// The billing page, not a Stripe portal session: that expires within minutes and opens for whoever holds it; the page's
    /// button opens the portal for the customer who is signed in.
    /// </summary>
    public string Billing => BaseUrl + "/billing";
}
