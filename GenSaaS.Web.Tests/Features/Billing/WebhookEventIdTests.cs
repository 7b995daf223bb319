using GenSaaS.Web.Features.Billing.Webhooks;

namespace GenSaaS.Web.Tests.Features.Billing;

public sealed class WebhookEventIdTests
{
    [Theory]
    [InlineData("""{"id":"evt_1","object":"event","data":{"object":{"id":"cs_1"}}}""", "evt_1")]
    [InlineData("""{"data":{"object":{"id":"cs_1","items":[{"id":"si_1"}]}},"object":"event","id":"evt_2"}""", "evt_2")]
    [InlineData("""{"object":"event","data":{"object":{"id":"cs_1"}}}""", null)]
    [InlineData("""not json""", null)]
    public void TopLevelId_IsTheEventsOwn_NeverAnInnerObjects(string payload, string? expected) =>
        StripeWebhooks.TopLevelId(payload).ShouldBe(expected);
}
