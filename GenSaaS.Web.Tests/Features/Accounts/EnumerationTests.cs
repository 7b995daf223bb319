using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using GenSaaS.Web.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

/// <summary>An attacker with a list of addresses learns nothing about which of them have accounts.</summary>
public sealed class EnumerationTests : IDisposable
{
    private readonly AccountsApp _app = new(new() { ["Accounts:Throttle:PerAddress"] = "1000" });

    public void Dispose() => _app.Dispose();

    /// <summary>Status, redirect target and the page it leads to, with the per-request antiforgery token taken out.</summary>
    private async Task<string> AnswerAsync(string url, Dictionary<string, string> fields)
    {
        using var client = _app.NewClient();
        var response = await TestApp.PostFormAsync(client, url, fields);
        var body = response.StatusCode == HttpStatusCode.Redirect
            ? await client.GetStringAsync(response.Headers.Location!.ToString())
            : await response.Content.ReadAsStringAsync();
        var location = response.Headers.Location?.ToString();
        foreach (var value in fields.Values)
            body = body.Replace(value, "<input>", StringComparison.Ordinal);
        body = Regex.Replace(body, "CfDJ8[A-Za-z0-9_-]+", "token");
        return $"{(int)response.StatusCode} {location}\n{body}";
    }

    public static TheoryData<string, string> Forms => new()
    {
        { "/Identity/Account/Register", "register" },
        { "/Identity/Account/Register", "register-weak" },
        { "/Identity/Account/ForgotPassword", "email" },
        { "/Identity/Account/ResendEmailConfirmation", "email" },
        { "/account/magic-link", "email" },
        { "/Identity/Account/Login", "sign-in" },
        { "/Identity/Account/ResetPassword?code=Zm9v", "reset" },
        { "/Identity/Account/ResetPassword?code=Zm9v", "reset-weak" },
    };

    [Theory]
    [MemberData(nameof(Forms))]
    public async Task EveryForm_AnswersTheSameForAnExistingAndAnUnknownAddress(string url, string kind)
    {
        var confirmed = NewEmail();
        var unconfirmed = NewEmail();
        await _app.CreateUserAsync(confirmed);
        await _app.CreateUserAsync(unconfirmed, confirmed: false);

        Dictionary<string, string> Fields(string email) => kind switch
        {
            "register" => new() { ["Input.Email"] = email, ["Input.Password"] = "Another-Horse-7", ["Input.ConfirmPassword"] = "Another-Horse-7" },
            "register-weak" => new() { ["Input.Email"] = email, ["Input.Password"] = "Password123", ["Input.ConfirmPassword"] = "Password123" },
            "sign-in" => new() { ["Input.Email"] = email, ["Input.Password"] = "Wrong-Horse-1" },
            "reset" => new() { ["Input.Email"] = email, ["Input.Password"] = "Another-Horse-7", ["Input.ConfirmPassword"] = "Another-Horse-7", ["Input.Code"] = "foo" },
            "reset-weak" => new() { ["Input.Email"] = email, ["Input.Password"] = "Password123", ["Input.ConfirmPassword"] = "Password123", ["Input.Code"] = "foo" },
            _ => new() { ["Input.Email"] = email },
        };

        var unknown = await AnswerAsync(url, Fields(NewEmail()));
        (await AnswerAsync(url, Fields(confirmed))).ShouldBe(unknown);
        (await AnswerAsync(url, Fields(unconfirmed))).ShouldBe(unknown);
    }

    [Fact]
    public async Task RegisteringAnExistingAddress_CreatesNothing_AndTellsItsOwner()
    {
        var email = NewEmail();
        await _app.CreateUserAsync(email);
        using var client = _app.NewClient();
        var response = await TestApp.PostFormAsync(client, "/Identity/Account/Register", new()
        {
            ["Input.Email"] = email.ToUpperInvariant(),
            ["Input.Password"] = "Taken-Over-Horse-5",
            ["Input.ConfirmPassword"] = "Taken-Over-Horse-5",
        });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().ShouldContain("RegisterConfirmation");

        var message = (await _app.WaitForOutboxAsync(email)).ShouldHaveSingleItem();
        message.Subject.ShouldBe("You already have a GenSaaS account");
        message.HtmlBody.ShouldContain("/Identity/Account/ForgotPassword");
        await _app.SignInAsync(email);
        using var attacker = _app.NewClient();
        var refused = await TestApp.PostFormAsync(attacker, "/Identity/Account/Login", new() { ["Input.Email"] = email, ["Input.Password"] = "Taken-Over-Horse-5" });
        refused.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task UnconfirmedAccount_IsMentionedOnlyToWhoeverKnowsItsPassword()
    {
        var email = NewEmail();
        await _app.CreateUserAsync(email, confirmed: false);
        using var client = _app.NewClient();
        var wrong = await TestApp.PostFormAsync(client, "/Identity/Account/Login", new() { ["Input.Email"] = email, ["Input.Password"] = "Wrong-Horse-1" });
        var wrongPage = await wrong.Content.ReadAsStringAsync();
        wrongPage.ShouldContain("Invalid login attempt.");
        wrongPage.ShouldNotContain("Confirm your email");
        var right = await TestApp.PostFormAsync(client, "/Identity/Account/Login", new() { ["Input.Email"] = email, ["Input.Password"] = "Correct-Horse-9" });
        (await right.Content.ReadAsStringAsync()).ShouldContain("Confirm your email address first");
    }

    [Fact]
    public async Task TwoRegistrationsForOneAddressAtOnce_CreateOneAccount()
    {
        var email = NewEmail();
        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(async i =>
        {
            using var client = _app.NewClient();
            return await TestApp.PostFormAsync(client, "/Identity/Account/Register", new()
            {
                ["Input.Email"] = i % 2 == 0 ? email : email.ToUpperInvariant(),
                ["Input.Password"] = $"Racing-Horse-{i}-Seven",
                ["Input.ConfirmPassword"] = $"Racing-Horse-{i}-Seven",
            });
        }));
        answers.ShouldAllBe(a => a.StatusCode == HttpStatusCode.Redirect && a.Headers.Location!.ToString().Contains("RegisterConfirmation"));

        await using var connection = await _app.Db.OpenAsync();
        (await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, "SELECT count(*) FROM AspNetUsers WHERE NormalizedEmail = @e", new { e = email.ToUpperInvariant() })).ShouldBe(1);
        var duplicate = await Should.ThrowAsync<Microsoft.Data.Sqlite.SqliteException>(() => Dapper.SqlMapper.ExecuteAsync(connection,
            "INSERT INTO AspNetUsers (Id, UserName, NormalizedUserName, Email, NormalizedEmail, EmailConfirmed, PhoneNumberConfirmed, TwoFactorEnabled, LockoutEnabled, AccessFailedCount) VALUES ('x', 'other', 'OTHER', @e, @n, 0, 0, 0, 1, 0)",
            new { e = email, n = email.ToUpperInvariant() }));
        duplicate.SqliteErrorCode.ShouldBe(19);
    }
}

/// <summary>Runs alone: other tests hashing passwords at the same time would drown the difference being measured.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "Timing measurements";
}

[Collection(TimingCollection.Name)]
public sealed class SignInTimingTests : IDisposable
{
    private readonly AccountsApp _app = new(new() { ["Accounts:Throttle:PerAddress"] = "1000" });

    public void Dispose() => _app.Dispose();

    [Fact]
    public async Task SignIn_TakesTheSameTime_ForAKnownAndAnUnknownAddress()
    {
        const int tries = 15;
        var known = NewEmail();
        await _app.CreateUserAsync(known);
        using var client = _app.NewClient();
        var page = await client.GetStringAsync("/Identity/Account/Login");

        async Task<double> TimeAsync(string email)
        {
            var watch = Stopwatch.StartNew();
            var response = await PostWithTokenAsync(client, "/Identity/Account/Login", page, new() { ["Input.Email"] = email, ["Input.Password"] = "Wrong-Horse-1" });
            watch.Stop();
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            return watch.Elapsed.TotalMilliseconds;
        }

        await TimeAsync(NewEmail());
        var knownTimes = new List<double>();
        var unknownTimes = new List<double>();
        for (var i = 0; i < tries; i++)
        {
            // Interleaved, so that anything slowing the machine down hits both sides alike.
            knownTimes.Add(await TimeAsync(known));
            unknownTimes.Add(await TimeAsync($"nobody-{i}-{Guid.NewGuid():N}@example.com"));
        }

        var difference = Math.Abs(Median(knownTimes) - Median(unknownTimes));
        difference.ShouldBeLessThan(10, $"known {Median(knownTimes):0.0} ms, unknown {Median(unknownTimes):0.0} ms");
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

}
