-- Auto top-up: a customer with a saved card buys a chosen bundle off session when prepaid credits fall below a threshold.
-- One row of settings per customer. monthly_cap_minor caps what auto top-up may charge per calendar month (UTC), in minor
-- units of the bundle's currency. armed: the next crossing may record a top-up (cleared when one is recorded, set again
-- when a top-up lands, a purchase lifts the balance back to the threshold, or the customer saves the settings).
-- failures_in_a_row: declined top-ups since the last success; three turn auto top-up off (disabled_reason = 'failures').
CREATE TABLE auto_top_up_settings (
    user_id            TEXT    NOT NULL PRIMARY KEY REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    enabled            INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    threshold          INTEGER NOT NULL CHECK (threshold > 0),
    plan_key           TEXT    NOT NULL,
    monthly_cap_minor  INTEGER NOT NULL CHECK (monthly_cap_minor > 0),
    currency           TEXT    NOT NULL,
    armed              INTEGER NOT NULL DEFAULT 1 CHECK (armed IN (0, 1)),
    failures_in_a_row  INTEGER NOT NULL DEFAULT 0 CHECK (failures_in_a_row >= 0),
    disabled_reason    TEXT,
    updated_at         TEXT    NOT NULL
);

-- One row per crossing: recorded pending inside the reservation that crossed, charged by AutoTopUpJob (idempotency key
-- auto-top-up:{id}), settled by the payment_intent webhook or the job (succeeded: credits granted, ledger_entry_id; failed:
-- Stripe's code and message; canceled: auto top-up was turned off before the charge). At most one pending per customer.
CREATE TABLE auto_top_ups (
    id                 INTEGER NOT NULL PRIMARY KEY,
    user_id            TEXT    NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    plan_key           TEXT    NOT NULL,
    credits            INTEGER NOT NULL CHECK (credits > 0),
    amount_minor       INTEGER NOT NULL CHECK (amount_minor > 0),
    currency           TEXT    NOT NULL,
    threshold          INTEGER NOT NULL,
    balance            INTEGER NOT NULL,
    payment_intent_id  TEXT    UNIQUE,
    attempts           INTEGER NOT NULL DEFAULT 0,
    error_code         TEXT,
    error              TEXT,
    turned_off         INTEGER NOT NULL DEFAULT 0 CHECK (turned_off IN (0, 1)),
    ledger_entry_id    INTEGER REFERENCES credit_ledger (id),
    created_at         TEXT    NOT NULL,
    settled_at         TEXT,
    updated_at         TEXT    NOT NULL
);
CREATE UNIQUE INDEX ux_auto_top_ups_one_pending ON auto_top_ups (user_id) WHERE status = 'pending';
CREATE INDEX ix_auto_top_ups_user_created ON auto_top_ups (user_id, created_at);
CREATE INDEX ix_auto_top_ups_pending_created ON auto_top_ups (created_at) WHERE status = 'pending';
