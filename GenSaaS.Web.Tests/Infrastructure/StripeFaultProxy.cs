using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace GenSaaS.Web.Tests.Infrastructure;

/// <summary>
/// A real HTTP hop between the app and the emulator's API (point <c>Billing:EmulatorBaseUrl</c> at <see cref="Url"/>) that
/// forwards every request as it is, or, while <see cref="Failing"/>, answers them 500 as Stripe does in an outage.
/// It stands for the network, not for Stripe: what passes is the emulator's own answer.
/// </summary>
public sealed class StripeFaultProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _forward = new(new SocketsHttpHandler { AllowAutoRedirect = false });
    private int _refused;

    private StripeFaultProxy(WebApplication app) => _app = app;

    public string Url { get; private set; } = "";

    /// <summary>Where requests go; set once the app (and so the emulator) listens.</summary>
    public Uri? Target { get; set; }

    public volatile bool Failing;

    /// <summary>Requests answered 500 so far.</summary>
    public int Refused => Volatile.Read(ref _refused);

    public static async Task<StripeFaultProxy> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var proxy = new StripeFaultProxy(app);
        app.Run(proxy.HandleAsync);
        await app.StartAsync();
        proxy.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return proxy;
    }

    private async Task HandleAsync(HttpContext http)
    {
        if (Failing || Target is null)
        {
            Interlocked.Increment(ref _refused);
            http.Response.StatusCode = 500;
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync("""{"error":{"type":"api_error","message":"An unknown error occurred"}}""");
            return;
        }
        using var request = new HttpRequestMessage(new HttpMethod(http.Request.Method), new Uri(Target, http.Request.Path + http.Request.QueryString));
        using var body = new MemoryStream();
        await http.Request.Body.CopyToAsync(body);
        if (body.Length > 0 || http.Request.ContentType is not null)
        {
            request.Content = new ByteArrayContent(body.ToArray());
            if (http.Request.ContentType is { } contentType)
                request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }
        foreach (var (name, values) in http.Request.Headers)
            if (name is not ("Host" or "Content-Type" or "Content-Length" or "Connection" or "Transfer-Encoding"))
                request.Headers.TryAddWithoutValidation(name, values.ToArray());
        using var response = await _forward.SendAsync(request, http.RequestAborted);
        http.Response.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            if (name is not ("Transfer-Encoding" or "Connection" or "Content-Length"))
                http.Response.Headers[name] = values.ToArray();
        await response.Content.CopyToAsync(http.Response.Body);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _forward.Dispose();
    }
}
