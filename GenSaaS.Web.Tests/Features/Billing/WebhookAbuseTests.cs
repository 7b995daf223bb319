using System.Net;
using System.Net.Sockets;
using System.Text;
using GenSaaS.Web.Features.Billing.Webhooks;
using Stripe;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>A raw HTTP/1.1 exchange, so a test decides exactly which bytes of a body are sent before the answer is read.</summary>
internal static class RawHttp
{
    /// <summary>Sends the head and the first body bytes, then reads the status line and headers without sending more.</summary>
    public static async Task<(int Status, string Head)> SendAsync(Uri baseAddress, string head, byte[]? body = null, int timeoutSeconds = 10)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(baseAddress.Host, baseAddress.Port);
        var stream = tcp.GetStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.Replace("\n", "\r\n", StringComparison.Ordinal)), timeout.Token);
        if (body is not null)
            await stream.WriteAsync(body, timeout.Token);
        await stream.FlushAsync(timeout.Token);
        var received = new StringBuilder();
        var buffer = new byte[4096];
        while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            if (read == 0) break;
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        var text = received.ToString();
        return (int.Parse(text.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture), text);
    }
}

/// <summary>The webhook endpoint against bodies that are not Stripe's: unsigned, oversized, signed but not events.</summary>
[Collection(BillingCollection.Name)]
public sealed class WebhookAbuseTests(BillingTestApp app) : IClassFixture<BillingTestApp>
{
    private string Sign(string payload) => EventUtility.GenerateSignatureHeader(payload, app.Emulator.WebhookSecret, DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    private async Task<HttpResponseMessage> PostAsync(string payload, string? signature)
    {
        using var client = app.NewClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/billing/webhook") { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        if (signature is not null)
            request.Headers.TryAddWithoutValidation("Stripe-Signature", signature);
        return await client.SendAsync(request);
    }

    private Task<long> EventRowsAsync() => app.QueryAsync<long>("SELECT count(*) FROM stripe_events");

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd")]
    [InlineData("t=1492774577")]
    [InlineData("t=abc,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd")]
    [InlineData("t=1492774577,v1=5257a869")]
    [InlineData("t=1492774577,v1=zz57a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd")]
    [InlineData("garbage")]
    public async Task NoWellFormedSignature_Is400_BeforeTheBodyIsSent(string? signature)
    {
        var header = signature is null ? "" : $"Stripe-Signature: {signature}\n";
        // 28 MB announced, not one byte sent: only an answer that does not wait for the body comes back.
        var (status, head) = await RawHttp.SendAsync(app.BaseAddress,
            $"POST /api/billing/webhook HTTP/1.1\nHost: {app.BaseAddress.Authority}\nContent-Type: application/json\nContent-Length: {28 * 1024 * 1024}\n{header}\n");
        status.ShouldBe(400, head);
        head.ShouldContain("application/problem+json");
    }

    [Fact]
    public async Task UnsignedSmallBody_Is400_AndStoresNothing()
    {
        var before = await EventRowsAsync();
        var response = await PostAsync("""{"id":"evt_unsigned","type":"checkout.session.completed","data":{"object":{}}}""", null);
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await EventRowsAsync()).ShouldBe(before);
    }

    [Fact]
    public async Task DeclaredLengthOverOneMegabyte_Is413_BeforeTheBodyIsSent()
    {
        var signature = Sign("{}");
        var (status, head) = await RawHttp.SendAsync(app.BaseAddress,
            $"POST /api/billing/webhook HTTP/1.1\nHost: {app.BaseAddress.Authority}\nContent-Type: application/json\nContent-Length: {1024 * 1024 + 1}\nStripe-Signature: {signature}\n\n");
        status.ShouldBe(413, head);
    }

    [Fact]
    public async Task ChunkedBodyOverOneMegabyte_Is413_AfterReadingNoMoreThanTheLimit()
    {
        var before = await EventRowsAsync();
        var chunk = Encoding.ASCII.GetBytes(new string(' ', 64 * 1024));
        var body = new MemoryStream();
        for (var i = 0; i < 17; i++) // 1088 KB, and the terminating chunk never comes
        {
            body.Write(Encoding.ASCII.GetBytes($"{chunk.Length:x}\r\n"));
            body.Write(chunk);
            body.Write("\r\n"u8);
        }
        var (status, head) = await RawHttp.SendAsync(app.BaseAddress,
            $"POST /api/billing/webhook HTTP/1.1\nHost: {app.BaseAddress.Authority}\nContent-Type: application/json\nTransfer-Encoding: chunked\nStripe-Signature: {Sign("{}")}\n\n",
            body.ToArray());
        status.ShouldBe(413, head);
        (await EventRowsAsync()).ShouldBe(before);
    }

    [Fact]
    public async Task SignedEventJustUnderTheLimit_IsStillAccepted()
    {
        var id = "evt_big_" + Guid.NewGuid().ToString("N");
        var padding = new string('x', 1000 * 1024);
        var payload = new System.Text.Json.Nodes.JsonObject
        {
            ["id"] = id, ["object"] = "event", ["api_version"] = StripeConfiguration.ApiVersion, ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            ["type"] = "customer.created",
            ["data"] = new System.Text.Json.Nodes.JsonObject { ["object"] = new System.Text.Json.Nodes.JsonObject { ["id"] = "cus_big", ["object"] = "customer", ["description"] = padding } },
        }.ToJsonString();
        (await PostAsync(payload, Sign(payload))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await app.QueryAsync<long>("SELECT count(*) FROM stripe_events WHERE id = @id", new { id })).ShouldBe(1);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("""[{"id":"evt_in_array","type":"checkout.session.completed"}]""")]
    [InlineData("null")]
    [InlineData("42")]
    [InlineData("\"evt_string\"")]
    [InlineData("{}")]
    [InlineData("""{"object":"event","type":"checkout.session.completed","data":{"object":{}}}""")]
    [InlineData("""{"id":"evt_no_type","object":"event","data":{"object":{}}}""")]
    [InlineData("""{"id":12,"type":"checkout.session.completed","data":{"object":{}}}""")]
    [InlineData("""{"id":"evt_no_data","type":"checkout.session.completed"}""")]
    [InlineData("""{"id":"evt_bad_data","type":"checkout.session.completed","data":[1,2]}""")]
    [InlineData("{\"id\":")]
    public async Task SignedButNotAnEvent_Is2xx_StoredOnceAsUnreadable_EvenWhenReplayed(string payload)
    {
        payload = payload.Replace("evt_", "evt_" + Guid.NewGuid().ToString("N")[..8] + "_", StringComparison.Ordinal);
        if (payload is "[]" or "null" or "42" or "{}")
            payload = " " + payload + new string(' ', Random.Shared.Next(1, 5000)); // a body of its own, so this test's row is its own
        var id = StripeWebhooks.UnreadableId(payload);

        var first = await PostAsync(payload, Sign(payload));
        ((int)first.StatusCode).ShouldBeInRange(200, 299, await first.Content.ReadAsStringAsync());
        var replay = await PostAsync(payload, Sign(payload));
        ((int)replay.StatusCode).ShouldBeInRange(200, 299, await replay.Content.ReadAsStringAsync());

        var rows = await app.ListAsync<(string Status, string LastError, string Payload)>(
            "SELECT status, last_error, payload FROM stripe_events WHERE id = @id", new { id });
        rows.Count.ShouldBe(1);
        rows[0].Status.ShouldBe("failed");
        rows[0].LastError.ShouldStartWith("Not a Stripe event");
        rows[0].Payload.ShouldBe(payload);
    }

    [Fact]
    public async Task UnreadableEvent_ShowsOnTheAdminEventsPage_AndItsReplayDoesNotFail()
    {
        var payload = "[\"" + Guid.NewGuid().ToString("N") + "\"]";
        (await PostAsync(payload, Sign(payload))).StatusCode.ShouldBe(HttpStatusCode.OK);
        var id = StripeWebhooks.UnreadableId(payload);

        var (_, admin) = await app.SignedInUserAsync(admin: true);
        var page = await admin.GetStringAsync("/admin/billing/events?status=failed");
        page.ShouldContain(id);
        var eventPage = await admin.GetStringAsync($"/admin/billing/events/{id}");
        var form = new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = Infrastructure.TestApp.AntiforgeryToken(eventPage),
            ["Replay.Token"] = System.Text.RegularExpressions.Regex.Match(eventPage, "name=\"Replay\\.Token\"[^>]*value=\"([0-9a-f]{32})\"").Groups[1].Value,
            ["Replay.Reason"] = "see whether it reads now",
        };
        var replay = await admin.PostAsync($"/admin/billing/events/{id}?handler=Replay", new FormUrlEncodedContent(form));
        replay.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        System.Net.WebUtility.HtmlDecode(await admin.GetStringAsync(replay.Headers.Location!.ToString())).ShouldContain("Failed again: Not a Stripe event");
    }

    [Fact]
    public void SignatureShape_IsThatOfStripe()
    {
        var real = EventUtility.GenerateSignatureHeader("{}", "whsec_x", 1_700_000_000);
        StripeWebhooks.IsWellFormedSignature(real).ShouldBeTrue(real);
        StripeWebhooks.IsWellFormedSignature(real + ",v0=" + new string('a', 64)).ShouldBeTrue();
        StripeWebhooks.IsWellFormedSignature(real + ",v1=" + new string('b', 64)).ShouldBeTrue();
        StripeWebhooks.IsWellFormedSignature(real + "," + new string('v', 3000)).ShouldBeFalse();
    }
}
