using GenSaaS.Web.Features.Shared;

namespace GenSaaS.Web.Tests.Features.Dashboard;

public sealed class MoneyTests
{
    [Theory]
    [InlineData(1005, "usd", "10.05 USD")]
    [InlineData(-250, "usd", "-2.50 USD")]
    [InlineData(0, "eur", "0.00 EUR")]
    [InlineData(1200, "jpy", "1200 JPY")]
    [InlineData(500, "KRW", "500 KRW")]
    [InlineData(1250, "kwd", "1.250 KWD")]
    [InlineData(123456789, "gbp", "1234567.89 GBP")]
    public void Format_UsesTheCurrencysOwnDecimals(long minor, string currency, string expected) =>
        Money.Format(minor, currency).ShouldBe(expected);
}
