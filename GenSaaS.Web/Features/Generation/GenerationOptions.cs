using System.ComponentModel.DataAnnotations;

namespace GenSaaS.Web.Features.Generation;

public enum GeneratorBackend { BuiltIn, Http, Null }

/// <summary>The <c>Generation</c> configuration section.</summary>
public sealed class GenerationOptions
{
    /// <summary>Which generator makes the images: BuiltIn (SkiaSharp), Http (OpenAI-compatible) or Null (1x1, benchmarks).</summary>
    public GeneratorBackend Backend { get; set; } = GeneratorBackend.BuiltIn;

    /// <summary>Longest prompt accepted, in characters.</summary>
    [Range(1, 100_000)] public int MaxPromptLength { get; set; } = 1000;

    /// <summary>Longest a generation may take before it fails and its credit is returned.</summary>
    [Range(1, 3600)] public int TimeoutSeconds { get; set; } = 120;

    /// <summary>Generations per page in the history.</summary>
    [Range(1, 200)] public int PageSize { get; set; } = 12;

    /// <summary>Settings of the Http backend.</summary>
    public HttpGeneratorOptions Http { get; set; } = new();

    /// <summary>What a generation costs, in units of credit (see <see cref="CostRule"/>).</summary>
    public CostOptions Cost { get; set; } = new();
}

/// <summary>The <c>Generation:Cost</c> section: units per generation, by the size asked for.</summary>
public sealed class CostOptions
{
    /// <summary>Units a generation costs unless its size is listed below.</summary>
    [Range(1, 1000)] public int Units { get; set; } = 1;

    /// <summary>Sizes that cost otherwise, e.g. <c>"1024x1024": 2</c>.</summary>
    public Dictionary<string, int> UnitsBySize { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>An OpenAI-compatible <c>/v1/images/generations</c> endpoint.</summary>
public sealed class HttpGeneratorOptions
{
    /// <summary>Base address, e.g. https://api.example.com (the path /v1/images/generations is appended).</summary>
    public string? BaseUrl { get; set; }

    /// <summary>Sent as <c>Authorization: Bearer</c>; from the environment, never the repository.</summary>
    public string? ApiKey { get; set; }

    /// <summary>The model name sent with each request.</summary>
    public string Model { get; set; } = "gpt-image-1";

    /// <summary>Requested size, e.g. 512x512.</summary>
    public string Size { get; set; } = "512x512";
}
