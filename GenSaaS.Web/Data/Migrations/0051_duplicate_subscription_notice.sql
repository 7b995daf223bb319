-- One more kind of billing notice: 'duplicate_subscription_refunded' (by subscription id), the email that a second
-- subscription Stripe made was canceled and refunded. SQLite cannot change a CHECK, so the table is rebuilt as it was
-- with the wider list.
CREATE TABLE billing_notices_new (
    kind        TEXT NOT NULL CHECK (kind IN ('payment_failed', 'async_payment_failed', 'duplicate_subscription_refunded')),
    stripe_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    sent_at     TEXT,
    PRIMARY KEY (kind, stripe_id)
);
INSERT INTO billing_notices_new (kind, stripe_id, user_id, created_at, sent_at)
SELECT kind, stripe_id, user_id, created_at, sent_at FROM billing_notices;
DROP TABLE billing_notices;
ALTER TABLE billing_notices_new RENAME TO billing_notices;
CREATE INDEX ix_billing_notices_user ON billing_notices (user_id, created_at);
