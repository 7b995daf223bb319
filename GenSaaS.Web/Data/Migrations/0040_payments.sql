-- Every payment, authorisation, capture and refund Stripe made for us, by its Stripe id, with what it funded:
-- the credit ledger line (bundles, refund reversals), the usage row (pay per use) or the subscription.
CREATE TABLE payments (
    id                  INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    user_id             TEXT    REFERENCES AspNetUsers (Id) ON DELETE SET NULL,
    kind                TEXT    NOT NULL CHECK (kind IN ('bundle', 'subscription_invoice', 'authorisation', 'capture', 'refund')),
    stripe_id           TEXT    NOT NULL,
    payment_intent_id   TEXT,
    charge_id           TEXT,
    plan_key            TEXT,
    amount_minor        INTEGER NOT NULL CHECK (amount_minor >= 0),
    currency            TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    credits             INTEGER,
    ledger_entry_id     INTEGER REFERENCES credit_ledger (id),
    usage_id            TEXT    REFERENCES usage (id),
    subscription_id     TEXT,
    created_at          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    UNIQUE (kind, stripe_id)
);
CREATE INDEX ix_payments_user ON payments (user_id, created_at);
CREATE INDEX ix_payments_charge ON payments (charge_id) WHERE charge_id IS NOT NULL;
CREATE INDEX ix_payments_payment_intent ON payments (payment_intent_id) WHERE payment_intent_id IS NOT NULL;
