-- Credits: balances per user, an append-only ledger, and one usage row per generation attempt.
-- Trial and prepaid credits are kept apart so each can be shown and expire on its own rules.
CREATE TABLE credit_balances (
    user_id          TEXT    NOT NULL PRIMARY KEY REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    trial_balance    INTEGER NOT NULL DEFAULT 0 CHECK (trial_balance >= 0),
    prepaid_balance  INTEGER NOT NULL DEFAULT 0 CHECK (prepaid_balance >= 0),
    updated_at       TEXT    NOT NULL
);

-- Every change of a balance, signed. Rows are never updated or deleted; ids only grow (no AUTOINCREMENT
-- needed: nothing is deleted, so max(id)+1 never reuses an id). A reference names what caused it (usage id, Stripe id, ...);
-- the same kind of change for the same reference is recorded once, which makes grants and reversals idempotent.
CREATE TABLE credit_ledger (
    id             INTEGER NOT NULL PRIMARY KEY,
    user_id        TEXT    NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    bucket         TEXT    NOT NULL CHECK (bucket IN ('trial', 'prepaid')),
    kind           TEXT    NOT NULL CHECK (kind IN ('grant', 'debit', 'release', 'adjustment', 'refund_reversal', 'expiry')),
    amount         INTEGER NOT NULL CHECK (amount <> 0),
    balance_after  INTEGER NOT NULL CHECK (balance_after >= 0),
    reason         TEXT    NOT NULL,
    reference      TEXT,
    actor          TEXT    NOT NULL,
    created_at     TEXT    NOT NULL
);
CREATE UNIQUE INDEX ux_credit_ledger_kind_reference ON credit_ledger (kind, reference) WHERE reference IS NOT NULL;
CREATE INDEX ix_credit_ledger_user ON credit_ledger (user_id, id);

-- One row per generation attempt, keyed by the caller's idempotency key.
-- state: reserved -> succeeded | released. charge_state follows the pay-per-use authorisation, when there is one.
CREATE TABLE usage (
    id                TEXT    NOT NULL PRIMARY KEY,
    user_id           TEXT    NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    idempotency_key   TEXT    NOT NULL,
    request_hash      TEXT    NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('reserved', 'succeeded', 'released')),
    funding_source    TEXT    NOT NULL CHECK (funding_source IN ('trial', 'prepaid', 'subscription', 'pay_per_use')),
    units             INTEGER NOT NULL DEFAULT 1 CHECK (units > 0),
    amount_minor      INTEGER,
    currency          TEXT,
    charge_reference  TEXT,
    charge_state      TEXT CHECK (charge_state IN ('pending', 'authorised', 'captured', 'canceled', 'failed')),
    subscription_id   TEXT,
    period_start      TEXT,
    period_key        TEXT    NOT NULL,
    generation_id     TEXT,
    error             TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    UNIQUE (user_id, idempotency_key)
) WITHOUT ROWID;
-- Only open reservations are indexed by age: the sweeper's question, and a small index.
CREATE INDEX ix_usage_reserved_created ON usage (created_at) WHERE state = 'reserved';
CREATE INDEX ix_usage_user_created ON usage (user_id, created_at);
CREATE INDEX ix_usage_subscription_period ON usage (subscription_id, period_start) WHERE funding_source = 'subscription';
CREATE INDEX ix_usage_charge_state ON usage (charge_state) WHERE charge_state IN ('pending', 'authorised');

-- Generations per user and period, kept with each reservation and release so that reading "used this period"
-- (every page header, /api/v1/me, the fair-use cap) costs one row, not a count over the period's usage.
-- period_key is 'month:2026-11' for credits and pay per use, 'sub:<subscription id>:<period start>' for the monthly plan.
CREATE TABLE usage_counters (
    user_id     TEXT    NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    period_key  TEXT    NOT NULL,
    used        INTEGER NOT NULL CHECK (used >= 0),
    PRIMARY KEY (user_id, period_key)
) WITHOUT ROWID;
