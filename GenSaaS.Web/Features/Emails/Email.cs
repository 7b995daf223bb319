namespace GenSaaS.Web.Features.Emails;

/// <summary>
/// An email's model: a record named like its two templates (<c>Templates/&lt;Name&gt;.txt</c> and <c>.html</c>) whose
/// properties fill their placeholders. Values are what the customer reads, already formatted (money by
/// <c>Billing.BillingOverview.Money</c>, dates as <c>yyyy-MM-dd</c>); a null value leaves out its <c>{{#Name}}</c> section.
/// </summary>
public abstract record Email
{
    public string TemplateName => GetType().Name;
}

/// <summary>Confirms the address of a new account (or one whose owner asked again).</summary>
public sealed record ConfirmEmail(string Link) : Email;

/// <summary>Confirms the new address a signed-in user asked to change to; sent to that new address.</summary>
public sealed record ConfirmEmailChange(string Link, string NewEmail) : Email;

public sealed record ResetPassword(string Link) : Email;

/// <summary>A one-time sign-in link, valid for <paramref name="Minutes"/>.</summary>
public sealed record SignInLink(string Link, int Minutes) : Email;

/// <summary>Someone tried to register this address again: its owner is told, the asker learns nothing.</summary>
public sealed record AlreadyRegistered(string SignInLink, string ForgotPasswordLink) : Email;

/// <summary>Dunning: a renewal could not be charged; the billing page's button opens Stripe's portal to change the card.</summary>
public sealed record RenewalFailed(string BillingLink) : Email;

/// <summary>A bank debit or other delayed payment of a purchase failed; nothing was granted.</summary>
public sealed record AsyncPaymentFailed(string BillingLink) : Email;

/// <summary>Two checkouts paid at once made two subscriptions; the second was canceled and refunded.</summary>
public sealed record DuplicateSubscriptionRefunded(string BillingLink) : Email;

/// <summary>Prepaid credits fell below the customer's threshold.</summary>
public sealed record LowBalance(long Threshold, long Balance, string BillingLink) : Email;

/// <summary>An auto top-up was charged and its credits added: the receipt of the off-session purchase.</summary>
public sealed record AutoTopUpCharged(long Threshold, string Bundle, string Amount, int Credits, string? ReceiptUrl, string BillingLink) : Email;

/// <summary>
/// An auto top-up could not be charged: <paramref name="Reason"/> says why (a decline, 3-D Secure, no card). <paramref name="Outcome"/>
/// ends the subject; <paramref name="TurnedOff"/> is set (and <paramref name="StillOn"/> not) when this failure, the
/// <paramref name="Failures"/>th in a row, turned auto top-up off. <paramref name="BillingLink"/> opens the page that fixes the card.
/// </summary>
public sealed record AutoTopUpFailed(string Outcome, long Threshold, string Bundle, string Price, string Reason, int Failures, string? TurnedOff,
    string? StillOn, string BillingLink) : Email;

/// <summary>A subscriber reached 80% of the plan's fair-use level this period.</summary>
public sealed record FairUseWarning(long Used, string PeriodStart, int SoftLimit, int HardCap, string PeriodEnd) : Email;

/// <summary>A subscriber reached the plan's fair-use level this period.</summary>
public sealed record FairUseReached(long Used, string PeriodStart, int SoftLimit, int HardCap, string PeriodEnd) : Email;

/// <summary>A bundle was paid and its credits granted; <paramref name="ReceiptUrl"/> is Stripe's receipt when it could be read.</summary>
public sealed record PurchaseReceipt(string PlanName, string Amount, long Credits, string? ReceiptUrl, string BillingLink) : Email;

/// <summary>A subscription's first invoice was paid: the plan is live.</summary>
public sealed record SubscriptionStarted(string PlanName, string Amount, string? PeriodEnd, string? InvoiceUrl, string BillingLink) : Email;

/// <summary>A renewal invoice (a new billing cycle) was paid.</summary>
public sealed record SubscriptionRenewed(string PlanName, string Amount, string? PeriodEnd, string? InvoiceUrl, string BillingLink) : Email;

/// <summary>A subscription that had started has ended (canceled by the customer, or after failed renewals).</summary>
public sealed record SubscriptionCanceled(string PlanName, string BillingLink) : Email;

/// <summary>To each admin: an operator alert opened (<c>Features/Operations/Alerts.cs</c>).</summary>
public sealed record AlertOpened(string Title, string Detail, string OpenedAt, string Link) : Email;

/// <summary>To each admin: the condition of an alert no longer holds.</summary>
public sealed record AlertResolved(string Title, string OpenedAt, string ResolvedAt, string Link) : Email;
