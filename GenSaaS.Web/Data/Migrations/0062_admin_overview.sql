-- The admin overview's figures for the whole business, per UTC day, kept by triggers as the rows they count are written
-- (as 0054 does per customer), so today, this month and the 30-day charts cost a few dozen primary-key rows however many
-- generations and payments there are. Nothing else writes these tables.
CREATE TABLE overview_daily_generations (
    day          TEXT    NOT NULL PRIMARY KEY,
    generations  INTEGER NOT NULL
) WITHOUT ROWID;

-- Money per day and currency in minor units: gross is paid bundles and subscription invoices and captured pay-per-use
-- charges; refunds are refunds succeeded or pending (both positive). Net is gross less refunds. Payments count whoever
-- they belong to (a customer deleted later does not take their payments off).
CREATE TABLE overview_daily_revenue (
    day            TEXT    NOT NULL,
    currency       TEXT    NOT NULL,
    gross_minor    INTEGER NOT NULL DEFAULT 0,
    refunds_minor  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, currency)
) WITHOUT ROWID;

CREATE TRIGGER overview_generations_on_insert AFTER INSERT ON generations
BEGIN
    INSERT INTO overview_daily_generations (day, generations) VALUES (substr(NEW.created_at, 1, 10), 1)
    ON CONFLICT (day) DO UPDATE SET generations = generations + 1;
END;

-- The same rule as daily_spend (0054): a payment counts on the day it was first recorded with what its kind and status say.
CREATE TRIGGER overview_revenue_on_insert AFTER INSERT ON payments
WHEN (NEW.kind IN ('bundle', 'subscription_invoice') AND NEW.status = 'paid') OR (NEW.kind = 'capture' AND NEW.status = 'succeeded')
     OR (NEW.kind = 'refund' AND NEW.status IN ('succeeded', 'pending'))
BEGIN
    INSERT INTO overview_daily_revenue (day, currency, gross_minor, refunds_minor)
    VALUES (substr(NEW.created_at, 1, 10), lower(NEW.currency),
            CASE NEW.kind WHEN 'refund' THEN 0 ELSE NEW.amount_minor END, CASE NEW.kind WHEN 'refund' THEN NEW.amount_minor ELSE 0 END)
    ON CONFLICT (day, currency) DO UPDATE SET gross_minor = gross_minor + excluded.gross_minor, refunds_minor = refunds_minor + excluded.refunds_minor;
END;

-- A later change (a bundle paid after its bank debit cleared, a refund that failed) takes the old row's part off and adds the new one's.
CREATE TRIGGER overview_revenue_on_update AFTER UPDATE OF kind, status, amount_minor, currency ON payments
BEGIN
    INSERT INTO overview_daily_revenue (day, currency, gross_minor, refunds_minor)
    SELECT substr(OLD.created_at, 1, 10), lower(OLD.currency),
           CASE OLD.kind WHEN 'refund' THEN 0 ELSE -OLD.amount_minor END, CASE OLD.kind WHEN 'refund' THEN -OLD.amount_minor ELSE 0 END
    WHERE (OLD.kind IN ('bundle', 'subscription_invoice') AND OLD.status = 'paid') OR (OLD.kind = 'capture' AND OLD.status = 'succeeded')
          OR (OLD.kind = 'refund' AND OLD.status IN ('succeeded', 'pending'))
    ON CONFLICT (day, currency) DO UPDATE SET gross_minor = gross_minor + excluded.gross_minor, refunds_minor = refunds_minor + excluded.refunds_minor;

    INSERT INTO overview_daily_revenue (day, currency, gross_minor, refunds_minor)
    SELECT substr(NEW.created_at, 1, 10), lower(NEW.currency),
           CASE NEW.kind WHEN 'refund' THEN 0 ELSE NEW.amount_minor END, CASE NEW.kind WHEN 'refund' THEN NEW.amount_minor ELSE 0 END
    WHERE (NEW.kind IN ('bundle', 'subscription_invoice') AND NEW.status = 'paid') OR (NEW.kind = 'capture' AND NEW.status = 'succeeded')
          OR (NEW.kind = 'refund' AND NEW.status IN ('succeeded', 'pending'))
    ON CONFLICT (day, currency) DO UPDATE SET gross_minor = gross_minor + excluded.gross_minor, refunds_minor = refunds_minor + excluded.refunds_minor;
END;

-- What the app already holds, counted once.
INSERT INTO overview_daily_generations (day, generations)
SELECT substr(created_at, 1, 10), count(*) FROM generations GROUP BY substr(created_at, 1, 10);

INSERT INTO overview_daily_revenue (day, currency, gross_minor, refunds_minor)
SELECT substr(created_at, 1, 10), lower(currency),
       sum(CASE kind WHEN 'refund' THEN 0 ELSE amount_minor END), sum(CASE kind WHEN 'refund' THEN amount_minor ELSE 0 END)
FROM payments
WHERE (kind IN ('bundle', 'subscription_invoice') AND status = 'paid') OR (kind = 'capture' AND status = 'succeeded')
      OR (kind = 'refund' AND status IN ('succeeded', 'pending'))
GROUP BY substr(created_at, 1, 10), lower(currency);

-- Subscriptions by status and plan: the overview's count and MRR per plan, and the jobs page's failed renewals
-- (past_due, unpaid), read on this index instead of the table.
CREATE INDEX ix_subscriptions_status_plan ON subscriptions (status, plan_key);
