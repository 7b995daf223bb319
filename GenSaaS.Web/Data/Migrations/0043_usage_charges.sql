-- A pay-per-use hold is Billing's record, no longer columns of the credits feature's usage row: Billing writes it when
-- it authorises, captures or cancels; the usage row keeps how a generation was paid (funding_source) and its units.
-- state: pending (authorising) -> authorised -> captured | canceled | failed.
CREATE TABLE usage_charges (
    usage_id           TEXT    NOT NULL PRIMARY KEY REFERENCES usage (id) ON DELETE CASCADE,
    user_id            TEXT    NOT NULL,
    payment_intent_id  TEXT,
    state              TEXT    NOT NULL CHECK (state IN ('pending', 'authorised', 'captured', 'canceled', 'failed')),
    amount_minor       INTEGER NOT NULL CHECK (amount_minor >= 0),
    currency           TEXT    NOT NULL,
    error              TEXT,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL
) WITHOUT ROWID;
-- The sweeper's question: holds still open, oldest first.
CREATE INDEX ix_usage_charges_open ON usage_charges (updated_at) WHERE state IN ('pending', 'authorised');

INSERT INTO usage_charges (usage_id, user_id, payment_intent_id, state, amount_minor, currency, created_at, updated_at)
SELECT id, user_id, charge_reference, charge_state, coalesce(amount_minor, 0), coalesce(currency, 'usd'), created_at, updated_at
FROM usage
WHERE charge_state IS NOT NULL;

DROP INDEX IF EXISTS ix_usage_charge_state;
ALTER TABLE usage DROP COLUMN charge_state;
ALTER TABLE usage DROP COLUMN charge_reference;
ALTER TABLE usage DROP COLUMN amount_minor;
ALTER TABLE usage DROP COLUMN currency;
