using System.Security.Cryptography;
using System.Text;

namespace GenSaaS.Web.Features.Accounts;

/// <summary>Random tokens for links and keys, and the hashes they are stored as.</summary>
public static class Secrets
{
    /// <summary>32 random bytes as URL-safe base64 (43 characters).</summary>
    public static string NewToken() => Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>Lower-case hex SHA-256: the tokens are random and long, so a plain fast hash is enough and keeps lookups indexed.</summary>
    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
