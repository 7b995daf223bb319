using System.Reflection;
using GenSaaS.Web.Features.Emails;

namespace GenSaaS.Web.Tests.Features.Emails;

/// <summary>Every email's two templates, filled from its model: nothing missing, nothing left unfilled, every value encoded in HTML.</summary>
public sealed class EmailTemplateTests
{
    private const string Hostile = "<script>alert('x')</script> & \"Tom\"";
    private const string To = "reader@example.com";

    private static readonly EmailTemplates Templates = new();

    private static IReadOnlyList<Type> Models() =>
        typeof(Email).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(Email)) && !t.IsAbstract).OrderBy(t => t.Name).ToList();

    /// <summary>The model with every value set: text values to <paramref name="text"/>, numbers to 42.</summary>
    private static Email Sample(Type model, string? text = Hostile)
    {
        var constructor = model.GetConstructors().Single();
        var arguments = constructor.GetParameters().Select(p => p.ParameterType switch
        {
            var t when t == typeof(string) => (object?)text,
            var t when t == typeof(int) => 42,
            var t when t == typeof(long) => 42L,
            var t => throw new InvalidOperationException($"{model.Name}.{p.Name} is a {t.Name}: email models take formatted strings and whole numbers"),
        }).ToArray();
        return (Email)constructor.Invoke(arguments);
    }

    public static TheoryData<string> ModelNames() => [.. Models().Select(t => t.Name)];

    [Fact]
    public void EveryModel_HasBothTemplates_AndEveryTemplate_HasAModel()
    {
        var models = Models().Select(t => t.Name).ToList();
        models.ShouldNotBeEmpty();
        foreach (var name in models)
        {
            EmailTemplates.Source(name, "txt").ShouldNotBeNull($"Templates/{name}.txt is missing");
            EmailTemplates.Source(name, "html").ShouldNotBeNull($"Templates/{name}.html is missing");
        }
        EmailTemplates.Names().ShouldBe(models, ignoreOrder: true);
    }

    [Theory]
    [MemberData(nameof(ModelNames))]
    public void EveryTemplate_FilledFromItsModel_HasASubjectBothPartsAndNoPlaceholderLeft(string name)
    {
        var model = Models().Single(t => t.Name == name);
        var mail = Templates.Render(Sample(model, "value-of-the-model"), To);

        mail.To.ShouldBe(To);
        mail.Subject.ShouldNotBeNullOrWhiteSpace();
        mail.Subject.ShouldNotContain("\n");
        mail.Text.ShouldNotBeNullOrWhiteSpace();
        mail.Html.ShouldStartWith("<!DOCTYPE html>");
        foreach (var part in new[] { mail.Subject, mail.Text, mail.Html })
        {
            part.ShouldNotContain("{{");
            part.ShouldNotContain("}}");
        }
        mail.Text.ShouldNotContain("<p>");
        mail.Html.ShouldContain($"<title>{mail.Subject.Replace("'", "&#x27;")}</title>");
        mail.Text.ShouldContain(To);
        mail.Html.ShouldContain(To);
        // Every value of the model reaches the customer in both parts (a property no template uses is a mistake).
        var properties = model.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.Name != nameof(Email.TemplateName)).ToList();
        foreach (var property in properties)
        {
            var expected = property.PropertyType == typeof(string) ? "value-of-the-model" : "42";
            (mail.Subject + mail.Text).ShouldContain(expected, customMessage: $"{name}.txt does not use {property.Name}");
            mail.Html.ShouldContain(expected, customMessage: $"{name}.html does not use {property.Name}");
        }
    }

    [Theory]
    [MemberData(nameof(ModelNames))]
    public void UserSuppliedValues_AreHtmlEncodedInTheHtmlPart_AndKeptAsTheyAreInTheText(string name)
    {
        var mail = Templates.Render(Sample(Models().Single(t => t.Name == name)), "\"<script>x</script>\"@example.com");

        mail.Html.ShouldNotContain("<script", Case.Insensitive);
        mail.Html.ShouldContain("&lt;script&gt;");
        mail.Html.ShouldNotContain("\"Tom\"");
        mail.Text.ShouldContain("\"<script>x</script>\"@example.com");
    }

    [Fact]
    public void ANameWithAScriptTag_InTheEmailChangeConfirmation_IsShownAsText()
    {
        var mail = Templates.Render(new ConfirmEmailChange("https://gensaas.test/confirm?code=a&b=c", "<script>alert(1)</script>@example.com"), To);

        mail.Html.ShouldContain("&lt;script&gt;alert(1)&lt;/script&gt;@example.com");
        mail.Html.ShouldContain("href=\"https://gensaas.test/confirm?code=a&amp;b=c\"");
        mail.Html.ShouldNotContain("<script>");
        mail.Text.ShouldContain("<script>alert(1)</script>@example.com");
        mail.Text.ShouldContain("https://gensaas.test/confirm?code=a&b=c");
    }

    [Fact]
    public void AMissingValue_IsAnError_NotAGapInTheMail()
    {
        Should.Throw<InvalidOperationException>(() => Templates.Render(new ConfirmEmail(null!), To)).Message.ShouldContain("{{Link}}");
    }

    [Fact]
    public void AnOptionalLinkThatIsNotKnown_LeavesItsSectionOut_InBothParts()
    {
        var without = Templates.Render(new PurchaseReceipt("10 credits", "5.00 USD", 10, null, "https://gensaas.test/billing"), To);
        var with = Templates.Render(new PurchaseReceipt("10 credits", "5.00 USD", 10, "https://pay.stripe.com/receipts/r_1", "https://gensaas.test/billing"), To);

        without.Text.ShouldNotContain("Receipt:");
        without.Html.ShouldNotContain("View your receipt");
        without.Text.ShouldNotContain("\n\n\n");
        with.Text.ShouldContain("Receipt: https://pay.stripe.com/receipts/r_1");
        with.Html.ShouldContain("<a href=\"https://pay.stripe.com/receipts/r_1\">View your receipt</a>");
        without.Text.ShouldBe(with.Text.Replace("Receipt: https://pay.stripe.com/receipts/r_1\n", ""));
    }
}
