using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MimeKit;
using netDumbster.smtp;

namespace GenSaaS.Web.Tests.Infrastructure;

/// <summary>A real SMTP server in the test process on a free port, and the settings that point an app at it.</summary>
public sealed class SmtpCatcher : IDisposable
{
    private readonly int _port;
    private readonly SimpleSmtpServer _server;

    public SmtpCatcher()
    {
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            _port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        _server = SimpleSmtpServer.Start(_port);
    }

    /// <summary><paramref name="settings"/> with the app's email sent here.</summary>
    public Dictionary<string, string?> Settings(Dictionary<string, string?>? settings = null)
    {
        var all = new Dictionary<string, string?>(settings ?? [])
        {
            ["Email:Smtp:Host"] = "127.0.0.1",
            ["Email:Smtp:Port"] = _port.ToString(CultureInfo.InvariantCulture),
            ["Email:Smtp:Security"] = "None",
            ["Email:Smtp:TimeoutSeconds"] = "5",
        };
        return all;
    }

    /// <summary>Every message received for <paramref name="email"/>, parsed.</summary>
    public List<MimeMessage> To(string email) =>
        _server.ReceivedEmail.ToArray().Where(m => m.ToAddresses.Any(a => a.Address == email))
            .Select(m => MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(m.Data)))).ToList();

    public void Dispose() => _server.Dispose();
}
