-- Emails about a payment that needs the customer, one per Stripe object: a renewal invoice that could not be charged
-- ('payment_failed', by invoice id) or an asynchronous Checkout payment that failed ('async_payment_failed', by session
-- id). A replayed or repeated webhook finds the row and sends nothing again; sent_at is claimed by the job that sends.
CREATE TABLE billing_notices (
    kind        TEXT NOT NULL CHECK (kind IN ('payment_failed', 'async_payment_failed')),
    stripe_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    sent_at     TEXT,
    PRIMARY KEY (kind, stripe_id)
);
CREATE INDEX ix_billing_notices_user ON billing_notices (user_id, created_at);
