using Microsoft.Extensions.Options;

namespace GenSaaS.Web.Features.Generation;

/// <summary>A generation as asked for: what the cost rule looks at. The size is the configured one until requests carry their own.</summary>
public sealed record GenerationRequest(string Prompt, long? Seed, string Size);

/// <summary>
/// The one home of a generation's price: the request's units, known before anything is reserved. Credits debit and
/// return them, the period counters and the fair-use cap count them, and pay per use charges units times the unit price.
/// </summary>
public sealed class CostRule(IOptions<GenerationOptions> options)
{
    public int UnitsFor(GenerationRequest request)
    {
        var cost = options.Value.Cost;
        return cost.UnitsBySize.TryGetValue(request.Size, out var units) ? units : cost.Units;
    }

    /// <summary>The request for a prompt and seed at the size this server makes.</summary>
    public GenerationRequest Request(string prompt, long? seed) => new(prompt, seed, options.Value.Http.Size);
}
