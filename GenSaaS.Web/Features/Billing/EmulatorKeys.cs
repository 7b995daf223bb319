using System.Security.Cryptography;

namespace GenSaaS.Web.Features.Billing;

/// <summary>The keys the gateway uses in Emulator mode, made fresh at start so no secret lives in the repository.</summary>
public sealed class EmulatorKeys
{
    public string SecretKey { get; } = "sk_test_emu_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    public string WebhookSecret { get; } = "whsec_emu_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}
