using System.Net;
using GenSaaS.Web.Features.Accounts;

namespace GenSaaS.Web.Features.Shared;

/// <summary>
/// Who may use the developer tools (the emulator's dev controls, the development mailbox): an admin in any environment,
/// or, in Development only, a caller on this machine. Everyone else is told they do not exist (404).
/// </summary>
public static class DevAccess
{
    public static bool IsAllowed(HttpContext http) =>
        http.User.IsInRole(Roles.Admin)
        || (http.RequestServices.GetRequiredService<IHostEnvironment>().IsDevelopment() && IsLocalCaller(http));

    /// <summary>
    /// The connection comes from loopback and no proxy stands between. The address is the connection's own, or the one
    /// the forwarded-headers middleware took from a known proxy; forwarding headers still present were not vouched for
    /// by a known proxy (a same-host reverse proxy makes every visitor look local), so they make the caller not local.
    /// </summary>
    private static bool IsLocalCaller(HttpContext http)
    {
        if (http.Connection.RemoteIpAddress is not { } remote)
            return false;
        var headers = http.Request.Headers;
        if (headers.ContainsKey("X-Forwarded-For") || headers.ContainsKey("X-Original-For") || headers.ContainsKey("Forwarded") || headers.ContainsKey("X-Real-IP"))
            return false;
        return IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote);
    }
}
