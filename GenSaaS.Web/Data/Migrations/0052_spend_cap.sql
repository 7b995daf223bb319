-- The customer's own limits: a monthly cap on pay-per-use spend (minor units of the pay-per-use plan's currency; NULL is
-- no cap). Read inside the reservation's write transaction, so concurrent generations cannot pass it together.
CREATE TABLE account_limits (
    user_id          TEXT PRIMARY KEY REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    spend_cap_minor  INTEGER CHECK (spend_cap_minor IS NULL OR spend_cap_minor > 0),
    updated_at       TEXT NOT NULL
);

-- What a pay-per-use reservation will charge, fixed when it is reserved: the month's spend is the sum over the
-- reserved and succeeded ones, so a released generation gives its amount back.
ALTER TABLE usage ADD COLUMN amount_minor INTEGER CHECK (amount_minor IS NULL OR amount_minor >= 0);

UPDATE usage SET amount_minor = (SELECT c.amount_minor FROM usage_charges AS c WHERE c.usage_id = usage.id)
WHERE funding_source = 'pay_per_use';

-- The low-balance warning: the customer's threshold in prepaid credits (NULL: 20 % of the last prepaid grant, rounded
-- up) and when the balance last fell below it. Set in the reservation that crosses (so concurrent ones warn once),
-- cleared by the next purchase that lifts the balance back to the threshold, which re-arms it.
ALTER TABLE account_limits ADD COLUMN low_balance_threshold INTEGER CHECK (low_balance_threshold IS NULL OR low_balance_threshold > 0);
ALTER TABLE account_limits ADD COLUMN low_balance_warned_at TEXT;

-- One row per crossing: the email the crossing owes, claimed (sent_at) by the job that sends it.
CREATE TABLE low_balance_notices (
    id          INTEGER NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    threshold   INTEGER NOT NULL,
    balance     INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    sent_at     TEXT
);
CREATE INDEX ix_low_balance_notices_user ON low_balance_notices (user_id, id);
