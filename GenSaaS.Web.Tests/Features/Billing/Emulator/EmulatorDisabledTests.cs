using System.Net;
using System.Net.Http.Headers;

namespace GenSaaS.Web.Tests.Features.Billing.Emulator;

/// <summary>With billing in another mode, nothing of the emulator answers.</summary>
public sealed class EmulatorDisabledTests
{
    [Theory]
    [InlineData("/emulator/stripe/v1/customers")]
    [InlineData("/emulator/checkout/cs_test_x")]
    [InlineData("/emulator/portal/bps_x")]
    [InlineData("/emulator/dev")]
    public async Task WhenModeIsNotEmulator_EmulatorRoutesAre404(string path)
    {
        using var app = new Infrastructure.TestApp(new Dictionary<string, string?> { ["Billing:Mode"] = "Disabled" });
        using var client = app.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "sk_test_x");
        (await client.GetAsync(path)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await client.PostAsync("/emulator/dev/advance?days=1", null)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}
