namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>
/// Billing tests run one app at a time: Hangfire keeps its storage in a static (<c>JobStorage.Current</c>), so a capture
/// or retry job enqueued by one app running in parallel with another can land in the other app's job database.
/// </summary>
[CollectionDefinition(Name)]
public sealed class BillingCollection
{
    public const string Name = "Billing (one app at a time)";
}
