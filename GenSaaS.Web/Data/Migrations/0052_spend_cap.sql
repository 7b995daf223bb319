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
