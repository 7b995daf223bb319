using System.Net;
using System.Text.Json;
using GenSaaS.Web.Tests.Infrastructure;
using static GenSaaS.Web.Tests.Features.Accounts.AccountsTestKit;

namespace GenSaaS.Web.Tests.Features.Accounts;

/// <summary>One address, or one client, cannot use the account forms without limit: 429 with Retry-After.</summary>
public sealed class ThrottleTests
{
    private static readonly string[] Forms =
    [
        "/Identity/Account/ForgotPassword",
        "/Identity/Account/ResendEmailConfirmation",
        "/account/magic-link",
        "/Identity/Account/Register",
        "/Identity/Account/Login",
    ];

    public static TheoryData<string> EmailForms => new(Forms);

    private static Dictionary<string, string> Fields(string url, string email) => url switch
    {
        "/Identity/Account/Register" => new() { ["Input.Email"] = email, ["Input.Password"] = "Correct-Horse-9", ["Input.ConfirmPassword"] = "Correct-Horse-9" },
        "/Identity/Account/Login" => new() { ["Input.Email"] = email, ["Input.Password"] = "Wrong-Horse-1" },
        _ => new() { ["Input.Email"] = email },
    };

    [Theory]
    [MemberData(nameof(EmailForms))]
    public async Task OneAddress_GetsFiveTriesInTenMinutes_KnownOrNot_ThenA429WithRetryAfter(string url)
    {
        using var app = new AccountsApp();
        var known = NewEmail();
        await app.CreateUserAsync(known);
        foreach (var email in new[] { known, NewEmail() })
        {
            using var client = app.NewClient();
            for (var i = 0; i < 5; i++)
                ((int)(await TestApp.PostFormAsync(client, url, Fields(url, email))).StatusCode).ShouldBeLessThan(400, $"try {i + 1}");
            var refused = await TestApp.PostFormAsync(client, url, Fields(url, email));
            refused.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
            refused.Headers.RetryAfter!.Delta!.Value.TotalSeconds.ShouldBeInRange(1, 600);
            (await refused.Content.ReadAsStringAsync()).ShouldContain("Too many attempts. Try again in 10 minutes.");
            // Another address from the same client is not affected.
            ((int)(await TestApp.PostFormAsync(client, url, Fields(url, NewEmail()))).StatusCode).ShouldBeLessThan(400);
        }

        app.Clock.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        using var later = app.NewClient();
        ((int)(await TestApp.PostFormAsync(later, url, Fields(url, known))).StatusCode).ShouldBeLessThan(400, "the window has passed");
    }

    [Fact]
    public async Task SuccessfulSignIns_DoNotUseUpTheAddressesAllowance()
    {
        using var app = new AccountsApp();
        var email = NewEmail();
        await app.CreateUserAsync(email);
        for (var i = 0; i < 8; i++)
            using (await app.SignInAsync(email)) { }
    }

    [Fact]
    public async Task OneClient_GetsPerIpTries_AcrossAllFormsAndAddresses_ThenA429ProblemForJsonCallers()
    {
        using var app = new AccountsApp(new() { ["Accounts:Throttle:PerIp"] = "4" });
        using var client = app.NewClient();
        var forms = Forms;
        for (var i = 0; i < 4; i++)
            ((int)(await TestApp.PostFormAsync(client, forms[i], Fields(forms[i], NewEmail()))).StatusCode).ShouldBeLessThan(400, forms[i]);

        var page = await TestApp.PostFormAsync(client, forms[4], Fields(forms[4], NewEmail()));
        page.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        page.Headers.RetryAfter!.Delta!.Value.TotalSeconds.ShouldBeInRange(1, 600);
        page.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");

        var json = await TestApp.PostFormAsync(client, "/account/magic-link", Fields("/account/magic-link", NewEmail()), new() { ["Accept"] = "application/json" });
        json.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        json.Headers.RetryAfter.ShouldNotBeNull();
        json.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        using var problem = JsonDocument.Parse(await json.Content.ReadAsStringAsync());
        problem.RootElement.GetProperty("code").GetString().ShouldBe("rate_limited");
        problem.RootElement.GetProperty("status").GetInt32().ShouldBe(429);
    }
}
