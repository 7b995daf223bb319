using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;

namespace GenSaaS.Web.Tests.Infrastructure;

/// <summary>
/// A real HTTP endpoint on a free local port that keeps every request body it is sent (gzip undone): the stand-in for
/// services outside the process that the app posts to (a Slack-style incoming webhook, Sentry).
/// </summary>
public sealed class HttpReceiver : IDisposable
{
    private readonly HttpListener _listener = new();

    public HttpReceiver()
    {
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _ = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string Url(string path) => $"http://127.0.0.1:{Port}{path}";

    /// <summary>While set, every request is answered 500 and not kept.</summary>
    public volatile bool Failing;

    public ConcurrentQueue<(string Path, string Body)> Requests { get; } = new();

    public List<string> Bodies(string path) => Requests.Where(r => r.Path == path).Select(r => r.Body).ToList();

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception)
            {
                return;
            }
            Stream body = context.Request.InputStream;
            if (string.Equals(context.Request.Headers["Content-Encoding"], "gzip", StringComparison.OrdinalIgnoreCase))
                body = new GZipStream(body, CompressionMode.Decompress);
            using var reader = new StreamReader(body);
            var text = await reader.ReadToEndAsync();
            if (Failing)
                context.Response.StatusCode = 500;
            else
                Requests.Enqueue((context.Request.Url!.AbsolutePath, text));
            context.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
    }
}
