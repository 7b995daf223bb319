using GenSaaS.Web.Features.Billing.Webhooks;

namespace GenSaaS.Web.Tests.Features.Billing;

/// <summary>The checks the webhook endpoint makes before it trusts a body: the signature header's shape, the event's id and shape, the id a non-event is kept under.</summary>
public sealed class WebhookShapeTests
{
    private static readonly string Hex64 = new('a', 64);

    [Theory]
    [InlineData("t=1492774577,v1=HEX", true)]
    [InlineData("v1=HEX,t=1492774577", true)]
    [InlineData(" t = 1492774577 , v1 = HEX ", true)]
    [InlineData("t=1492774577,v1=HEXUPPER", true)]
    [InlineData("t=123456789012,v1=HEX", true)]
    [InlineData("t=1234567890123,v1=HEX", false)]
    [InlineData("t=,v1=HEX", false)]
    [InlineData("t=-1,v1=HEX", false)]
    [InlineData("t=1492774577,v1=HEXa", false)]
    [InlineData("t=1492774577,v1=", false)]
    [InlineData("t=1492774577,=HEX", false)]
    [InlineData("t=1492774577,v1HEX", false)]
    [InlineData("t=1492774577,v0=HEX", false)]
    [InlineData("t=1492774577,v1=HEX,extra=", true)]
    public void SignatureHeader_IsWellFormed_OnlyWithATimestampAndA64HexV1(string header, bool expected) =>
        StripeWebhooks.IsWellFormedSignature(header.Replace("HEXUPPER", Hex64.ToUpperInvariant()).Replace("HEX", Hex64)).ShouldBe(expected, header);

    [Fact]
    public void SignatureHeader_OfUpTo2048Characters_IsRead_AndLongerIsRefused()
    {
        var header = "t=1492774577,v1=" + Hex64;
        var padded = header + ",v0=" + new string('b', 2048 - header.Length - 4);
        padded.Length.ShouldBe(2048);
        StripeWebhooks.IsWellFormedSignature(padded).ShouldBeTrue();
        StripeWebhooks.IsWellFormedSignature(padded + "b").ShouldBeFalse();
    }

    [Theory]
    [InlineData("""{"id":12,"object":"event"}""", null)]
    [InlineData("""{"items":[{"id":"si_1"}],"id":"evt_3"}""", "evt_3")]
    [InlineData("""{"data":{"object":{"id":"cs_1"}},"id":"evt_4","more":{"id":"x"}}""", "evt_4")]
    [InlineData("""[{"id":"evt_in_array"}]""", null)]
    public void TopLevelId_ReadsOnlyTheEventsOwnStringId(string payload, string? expected) =>
        StripeWebhooks.TopLevelId(payload).ShouldBe(expected);

    [Theory]
    [InlineData("[]", "the body is a JSON array, not an event object")]
    [InlineData("42", "the body is a JSON number, not an event object")]
    [InlineData("""{"id":"","type":"x","data":{"object":{}}}""", "the body has no string id")]
    [InlineData("""{"id":"evt_1","type":"","data":{"object":{}}}""", "the body has no string type")]
    [InlineData("""{"id":"evt_1","type":7,"data":{"object":{}}}""", "the body has no string type")]
    [InlineData("""{"id":"evt_1","type":"x","data":{}}""", "the body has no data.object")]
    [InlineData("""{"id":"evt_1","type":"x","data":{"object":[]}}""", "the body has no data.object")]
    [InlineData("""{"id":"evt_1","type":"x","data":{"object":{}}}""", null)]
    public void NotAnEvent_SaysWhichPartIsMissing(string payload, string? reason) =>
        StripeWebhooks.NotAnEvent(payload).ShouldBe(reason);

    [Fact]
    public void NotAnEvent_ForABodyThatIsNotJson_SaysSo() =>
        StripeWebhooks.NotAnEvent("{\"id\":").ShouldNotBeNull().ShouldStartWith("the body is not JSON: ");

    [Fact]
    public void UnreadableId_IsTheSameForTheSameBody_AndShortHexOtherwise()
    {
        var id = StripeWebhooks.UnreadableId("[1]");
        id.ShouldBe(StripeWebhooks.UnreadableId("[1]"));
        id.ShouldNotBe(StripeWebhooks.UnreadableId("[2]"));
        id.ShouldMatch("^unreadable_[0-9a-f]{32}$");
    }
}
