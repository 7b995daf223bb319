using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Tests.Infrastructure;

namespace GenSaaS.Web.Tests.Features.Shared;

/// <summary>A careless or hostile client: numbers that are not numbers, overflow, repeats, fields the API does not have.</summary>
public sealed class BadInputTests(ProductionApp app) : IClassFixture<ProductionApp>
{
    public static TheoryData<string> BadNumbers => new()
    {
        "abc", "1.5", "NaN", "Infinity", "-Infinity", "1e309", "0", "-1", "2147483647", "2147483648", "99999999999",
        "99999999999999999999999999", "", " 1", "0x10", "1,000",
    };

    /// <summary>Every body must be free of what only a developer should see.</summary>
    private static void ShouldNotLeakInternals(string body)
    {
        foreach (var leak in new[] { "System.", "Int32", "Int64", "Nullable", "Exception", "   at ", "GenSaaS.Web" })
            body.ShouldNotContain(leak, Case.Sensitive, $"the answer leaks '{leak}': {body}");
    }

    private static async Task ShouldBeProblemNamingAsync(HttpResponseMessage response, string parameter)
    {
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, body);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = JsonDocument.Parse(body).RootElement;
        problem.GetProperty("code").GetString().ShouldBe("validation_failed");
        problem.GetProperty("errors").TryGetProperty(parameter, out _).ShouldBeTrue(body);
        ShouldNotLeakInternals(body);
    }

    [Theory]
    [MemberData(nameof(BadNumbers))]
    public async Task ApiPaging_WithABadNumber_Is400NamingTheParameter(string value)
    {
        var (_, client) = await app.SignedInUserAsync();
        var encoded = Uri.EscapeDataString(value);
        await ShouldBeProblemNamingAsync(await client.GetAsync($"/api/v1/generations?page={encoded}"), "page");
        await ShouldBeProblemNamingAsync(await client.GetAsync($"/api/v1/generations?pageSize={encoded}"), "pageSize");
        await ShouldBeProblemNamingAsync(await client.GetAsync($"/api/v1/generations?limit={encoded}"), "limit");
    }

    [Theory]
    [InlineData("pageSize=101", "pageSize")]
    [InlineData("page=1000001", "page")]
    [InlineData("page=1&page=2", "page")]
    [InlineData("pageSize=10&pageSize=10", "pageSize")]
    public async Task ApiPaging_OutOfRangeOrRepeated_Is400(string query, string parameter)
    {
        var (_, client) = await app.SignedInUserAsync();
        await ShouldBeProblemNamingAsync(await client.GetAsync($"/api/v1/generations?{query}"), parameter);
    }

    [Fact]
    public async Task ApiPaging_InRange_StillWorks()
    {
        var (_, client) = await app.SignedInUserAsync();
        var response = await client.GetAsync("/api/v1/generations?limit=100");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("data").GetArrayLength().ShouldBe(0);
        body.GetProperty("has_more").GetBoolean().ShouldBeFalse();
    }

    [Theory]
    [InlineData("/generate?page=abc")]
    [InlineData("/generate?page=2147483647")]
    [InlineData("/generate?page=NaN")]
    [InlineData("/generate?page=1&page=2")]
    [InlineData("/dashboard?page=-1")]
    [InlineData("/billing?pageSize=99999999999")]
    public async Task Pages_WithABadNumber_AnswerAFriendly400Page(string url)
    {
        var (_, client) = await app.SignedInUserAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.ParseAdd("text/html");
        var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, body);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        body.ShouldContain("data-testid=\"error-title\"");
        ShouldNotLeakInternals(body);

        using var htmx = new HttpRequestMessage(HttpMethod.Get, url);
        htmx.Headers.Add("HX-Request", "true");
        var fragment = await client.SendAsync(htmx);
        fragment.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await fragment.Content.ReadAsStringAsync()).ShouldStartWith("<div class=\"alert error\"");
    }

    private async Task<long> UsageCountAsync(string userId)
    {
        await using var connection = await app.Db.OpenAsync();
        return await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM usage WHERE user_id = @userId", new { userId });
    }

    [Theory]
    [InlineData("{\"prompt\":\"a cat\",\"width\":2048}", "width")]
    [InlineData("{\"prompt\":\"a cat\",\"Height\":2048}", "Height")]
    [InlineData("{\"prompt\":123}", "prompt")]
    [InlineData("{\"prompt\":[\"a\"]}", "prompt")]
    [InlineData("{\"prompt\":\"a cat\",\"seed\":\"42\"}", "seed")]
    [InlineData("{\"prompt\":\"a cat\",\"seed\":1.5}", "seed")]
    [InlineData("{\"prompt\":\"a cat\",\"seed\":1e309}", "seed")]
    [InlineData("{\"prompt\":\"a cat\",\"seed\":99999999999999999999999}", "seed")]
    [InlineData("{\"prompt\":\"a cat\",\"seed\":true}", "seed")]
    [InlineData("[{\"prompt\":\"a cat\"}]", "body")]
    [InlineData("null", "body")]
    [InlineData("\"a cat\"", "body")]
    [InlineData("{\"prompt\":\"a cat\"", "body")]
    public async Task GenerationBody_WithUnknownFieldsOrWrongTypes_Is400NamingTheField_AndChargesNothing(string json, string field)
    {
        var (user, client) = await app.SignedInUserAsync();
        var before = await client.GetStringAsync("/api/v1/me");

        var response = await client.PostAsync("/api/v1/generations", new StringContent(json, Encoding.UTF8, "application/json"));

        await ShouldBeProblemNamingAsync(response, field);
        (await UsageCountAsync(user.Id)).ShouldBe(0);
        (await client.GetStringAsync("/api/v1/me")).ShouldBe(before);
    }

    [Fact]
    public async Task GenerationBody_NotJson_Is400()
    {
        var (user, client) = await app.SignedInUserAsync();
        var response = await client.PostAsync("/api/v1/generations", new StringContent("prompt=a cat", Encoding.UTF8, "application/x-www-form-urlencoded"));
        await ShouldBeProblemNamingAsync(response, "body");
        (await UsageCountAsync(user.Id)).ShouldBe(0);
    }
}

/// <summary>The emulator's dev clock takes fractional days, so it gets its own table: nothing that is not a finite, sane number moves it.</summary>
public sealed class EmulatorClockBadInputTests(TestApp app) : IClassFixture<TestApp>
{
    [Theory]
    [InlineData("days=NaN", "days")]
    [InlineData("days=Infinity", "days")]
    [InlineData("days=-Infinity", "days")]
    [InlineData("days=1e309", "days")]
    [InlineData("days=1e300", "days")]
    [InlineData("days=-5", "days")]
    [InlineData("days=abc", "days")]
    [InlineData("hours=99999999999", "hours")]
    [InlineData("minutes=1e20", "minutes")]
    [InlineData("days=1&days=2", "days")]
    public async Task Advance_WithABadNumber_Is400_AndTheClockStays(string query, string parameter)
    {
        using var client = app.NewClient();
        var before = (await client.GetFromJsonAsync<JsonElement>("/emulator/dev/clock")).GetProperty("unix").GetInt64();

        var response = await client.PostAsync($"/emulator/dev/advance?{query}", null);

        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, body);
        JsonDocument.Parse(body).RootElement.GetProperty("errors").TryGetProperty(parameter, out _).ShouldBeTrue(body);
        var after = (await client.GetFromJsonAsync<JsonElement>("/emulator/dev/clock")).GetProperty("unix").GetInt64();
        (after - before).ShouldBeLessThan(60);
    }
}
