namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// Billing tests run one app at a time: each app runs Kestrel, a Hangfire server and the emulator's delivery loop, and the
/// tests wait on their background work; side by side on a small machine those waits only get slower and flakier.
/// </summary>
[CollectionDefinition(Name)]
public sealed class BillingCollection
{
    public const string Name = "Billing (one app at a time)";
}
