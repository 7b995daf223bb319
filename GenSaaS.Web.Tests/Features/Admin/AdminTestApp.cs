using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using GenSaaS.Web.Features.Accounts;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;

namespace GenSaaS.Web.Tests.Features.Admin;

/// <summary>The app with three trial credits per account, the Null generator, and helpers for admins, keys and the audit log.</summary>
public sealed class AdminTestApp() : TestApp(new Dictionary<string, string?>
{
    ["Credits:TrialCredits"] = "3",
    ["Generation:Backend"] = "Null",
})
{
    /// <summary>A new admin and a key of theirs with the admin scope.</summary>
    public async Task<(IdentityUser Admin, HttpClient Client)> AdminKeyAsync()
    {
        var admin = await CreateUserAsync($"admin-{Guid.NewGuid():N}@example.com", admin: true);
        return (admin, await KeyClientAsync(admin.Id, ApiKeyScopes.Admin, ApiKeyScopes.Read));
    }

    public async Task<long> ScalarAsync(string sql, object? args = null)
    {
        await using var connection = await Db.OpenAsync();
        return await connection.ExecuteScalarAsync<long>(sql, args);
    }

    public async Task<(long Trial, long Prepaid)> BalanceAsync(string userId)
    {
        await using var connection = await Db.OpenAsync();
        return await connection.QuerySingleOrDefaultAsync<(long, long)>(
            "SELECT trial_balance, prepaid_balance FROM credit_balances WHERE user_id = @userId", new { userId });
    }

    public sealed record AuditRow(long Id, string Actor, string ActorKind, string Action, string? Target, string? Reason, string? BeforeJson, string? AfterJson);

    public async Task<List<AuditRow>> AuditAsync(string? target = null, string? action = null)
    {
        await using var connection = await Db.OpenAsync();
        return (await connection.QueryAsync<AuditRow>("""
            SELECT id, actor, actor_kind AS ActorKind, action, target, reason, before_json AS BeforeJson, after_json AS AfterJson
            FROM audit_log WHERE (@target IS NULL OR target = @target) AND (@action IS NULL OR action = @action) ORDER BY id
            """, new { target, action })).AsList();
    }

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public static Task<HttpResponseMessage> AdjustAsync(HttpClient client, string userId, object body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/admin/customers/{userId}/credits") { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null)
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        return client.SendAsync(request);
    }
}
