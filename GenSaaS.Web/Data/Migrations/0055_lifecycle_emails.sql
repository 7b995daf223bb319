-- One row per email about an event (Emails/Mailer.SendOnceAsync): kind is the email's model name (PurchaseReceipt,
-- SubscriptionRenewed, ...), reference the event's key (a Checkout Session, an invoice, a subscription id). A replayed
-- webhook or a job run twice finds the row and sends nothing again. claimed_at is set by the run that is sending (and
-- cleared when its send fails); sent_at once the relay took the message.
CREATE TABLE sent_emails (
    kind        TEXT NOT NULL,
    reference   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    claimed_at  TEXT,
    sent_at     TEXT,
    PRIMARY KEY (kind, reference)
);
CREATE INDEX ix_sent_emails_user ON sent_emails (user_id, sent_at);
