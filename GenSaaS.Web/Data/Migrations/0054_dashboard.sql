-- The customer's own documents at Stripe for a payment: the charge's receipt (charge.receipt_url, kept up to date by Stripe
-- with later refunds) and, for an invoice, its hosted page and PDF (invoice.hosted_invoice_url, invoice.invoice_pdf).
ALTER TABLE payments ADD COLUMN receipt_url TEXT;
ALTER TABLE payments ADD COLUMN hosted_invoice_url TEXT;
ALTER TABLE payments ADD COLUMN invoice_pdf TEXT;

-- The dashboard's chart: generations and money spent per customer and UTC day, kept by the triggers below as the rows they
-- count are written, so reading 30 days costs 30 rows at most whatever the customer's history (a customer with a million
-- images must not make the chart count them). Nothing else writes these tables.
CREATE TABLE daily_generations (
    user_id      TEXT    NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    day          TEXT    NOT NULL,
    generations  INTEGER NOT NULL,
    PRIMARY KEY (user_id, day)
) WITHOUT ROWID;

-- Money moved per day and currency, in minor units: paid bundles and subscription invoices, captured pay-per-use charges,
-- less refunds (so a day can be negative). A hold (authorisation) moves no money and is not counted.
CREATE TABLE daily_spend (
    user_id       TEXT    NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    day           TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    amount_minor  INTEGER NOT NULL,
    PRIMARY KEY (user_id, day, currency)
) WITHOUT ROWID;

-- A generation counts on the day it was made; deleting its image later does not take it off (it was made and paid for).
CREATE TRIGGER daily_generations_on_insert AFTER INSERT ON generations
BEGIN
    INSERT INTO daily_generations (user_id, day, generations) VALUES (NEW.user_id, substr(NEW.created_at, 1, 10), 1)
    ON CONFLICT (user_id, day) DO UPDATE SET generations = generations + 1;
END;

-- A payment counts on the day it was first recorded (payments.created_at never changes) with what its kind and status say it
-- moved; a later status change (a bundle paid after its bank debit cleared) moves the difference.
CREATE TRIGGER daily_spend_on_insert AFTER INSERT ON payments
WHEN NEW.user_id IS NOT NULL
     AND ((NEW.kind IN ('bundle', 'subscription_invoice') AND NEW.status = 'paid') OR (NEW.kind = 'capture' AND NEW.status = 'succeeded')
          OR (NEW.kind = 'refund' AND NEW.status IN ('succeeded', 'pending')))
BEGIN
    INSERT INTO daily_spend (user_id, day, currency, amount_minor)
    VALUES (NEW.user_id, substr(NEW.created_at, 1, 10), lower(NEW.currency), CASE NEW.kind WHEN 'refund' THEN -NEW.amount_minor ELSE NEW.amount_minor END)
    ON CONFLICT (user_id, day, currency) DO UPDATE SET amount_minor = amount_minor + excluded.amount_minor;
END;

CREATE TRIGGER daily_spend_on_update AFTER UPDATE OF user_id, kind, status, amount_minor, currency ON payments
BEGIN
    INSERT INTO daily_spend (user_id, day, currency, amount_minor)
    SELECT OLD.user_id, substr(OLD.created_at, 1, 10), lower(OLD.currency), CASE OLD.kind WHEN 'refund' THEN OLD.amount_minor ELSE -OLD.amount_minor END
    WHERE OLD.user_id IS NOT NULL
      AND ((OLD.kind IN ('bundle', 'subscription_invoice') AND OLD.status = 'paid') OR (OLD.kind = 'capture' AND OLD.status = 'succeeded')
           OR (OLD.kind = 'refund' AND OLD.status IN ('succeeded', 'pending')))
    ON CONFLICT (user_id, day, currency) DO UPDATE SET amount_minor = amount_minor + excluded.amount_minor;

    INSERT INTO daily_spend (user_id, day, currency, amount_minor)
    SELECT NEW.user_id, substr(NEW.created_at, 1, 10), lower(NEW.currency), CASE NEW.kind WHEN 'refund' THEN -NEW.amount_minor ELSE NEW.amount_minor END
    WHERE NEW.user_id IS NOT NULL
      AND ((NEW.kind IN ('bundle', 'subscription_invoice') AND NEW.status = 'paid') OR (NEW.kind = 'capture' AND NEW.status = 'succeeded')
           OR (NEW.kind = 'refund' AND NEW.status IN ('succeeded', 'pending')))
    ON CONFLICT (user_id, day, currency) DO UPDATE SET amount_minor = amount_minor + excluded.amount_minor;
END;

-- What the app already holds, counted once.
INSERT INTO daily_generations (user_id, day, generations)
SELECT user_id, substr(created_at, 1, 10), count(*) FROM generations GROUP BY user_id, substr(created_at, 1, 10);

INSERT INTO daily_spend (user_id, day, currency, amount_minor)
SELECT user_id, substr(created_at, 1, 10), lower(currency), sum(CASE kind WHEN 'refund' THEN -amount_minor ELSE amount_minor END)
FROM payments
WHERE user_id IS NOT NULL
  AND ((kind IN ('bundle', 'subscription_invoice') AND status = 'paid') OR (kind = 'capture' AND status = 'succeeded')
       OR (kind = 'refund' AND status IN ('succeeded', 'pending')))
GROUP BY user_id, substr(created_at, 1, 10), lower(currency);

-- The receipt page finds a generation's usage by the generation (usage.generation_id has no index of its own; a usage row
-- is written before its generation, so the generation cannot name it). Only succeeded usage rows carry one.
CREATE INDEX ix_usage_generation ON usage (generation_id) WHERE generation_id IS NOT NULL;
