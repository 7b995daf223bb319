-- The admin's customer list and timeline at 100,000 accounts and a million rows per customer: every filter and every
-- timeline source is read newest first on an index that starts with what it filters on, so a page costs one seek
-- however rare the filter or long the history (scripts/bench-scale.sh measures it).
--
-- This script runs before 0058 on a new database and after it on one made before this script existed, so it makes the
-- sign-up table the way 0058 does when it is missing (0058 then finds it and keeps it).
CREATE TABLE IF NOT EXISTS account_signups (
    user_id     TEXT NOT NULL PRIMARY KEY REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_account_signups_created ON account_signups (created_at, user_id);
CREATE TRIGGER IF NOT EXISTS account_signed_up AFTER INSERT ON AspNetUsers
BEGIN
    INSERT INTO account_signups (user_id, created_at) VALUES (NEW.Id, strftime('%Y-%m-%d %H:%M:%f0000', 'now'))
    ON CONFLICT (user_id) DO NOTHING;
END;

-- Each account's plan (what pays first, as the account summary chooses it) and whether its email is confirmed, kept on its
-- sign-up row by triggers on the rows that decide them, so a plan or status filter seeks (plan|email_confirmed, created_at).
ALTER TABLE account_signups ADD COLUMN plan TEXT NOT NULL DEFAULT 'none'
    CHECK (plan IN ('subscription', 'prepaid', 'pay_per_use', 'trial', 'none'));
ALTER TABLE account_signups ADD COLUMN email_confirmed INTEGER NOT NULL DEFAULT 0 CHECK (email_confirmed IN (0, 1));
CREATE INDEX ix_account_signups_plan ON account_signups (plan, created_at, user_id);
CREATE INDEX ix_account_signups_confirmed ON account_signups (email_confirmed, created_at, user_id);
-- Locked accounts are few: the locked filter starts from them.
CREATE INDEX ix_users_lockout_end ON AspNetUsers (LockoutEnd) WHERE LockoutEnd IS NOT NULL;

-- The one place the plan is decided: a live subscription, prepaid credits, a card saved for pay per use, trial credits, none.
CREATE VIEW account_plans AS
SELECT a.user_id,
       CASE
           WHEN EXISTS (SELECT 1 FROM subscriptions AS s WHERE s.user_id = a.user_id
                        AND s.status IN ('active', 'trialing', 'past_due', 'unpaid', 'paused', 'incomplete')) THEN 'subscription'
           WHEN coalesce((SELECT b.prepaid_balance FROM credit_balances AS b WHERE b.user_id = a.user_id), 0) > 0 THEN 'prepaid'
           WHEN EXISTS (SELECT 1 FROM billing_customers AS bc WHERE bc.user_id = a.user_id
                        AND bc.pay_per_use_card = 1 AND bc.default_payment_method IS NOT NULL) THEN 'pay_per_use'
           WHEN coalesce((SELECT b.trial_balance FROM credit_balances AS b WHERE b.user_id = a.user_id), 0) > 0 THEN 'trial'
           ELSE 'none'
       END AS plan
FROM account_signups AS a;

UPDATE account_signups
SET plan = (SELECT p.plan FROM account_plans AS p WHERE p.user_id = account_signups.user_id),
    email_confirmed = coalesce((SELECT u.EmailConfirmed <> 0 FROM AspNetUsers AS u WHERE u.Id = account_signups.user_id), 0);

CREATE TRIGGER account_directory_on_signup AFTER INSERT ON account_signups
BEGIN
    UPDATE account_signups
    SET plan = (SELECT p.plan FROM account_plans AS p WHERE p.user_id = NEW.user_id),
        email_confirmed = coalesce((SELECT u.EmailConfirmed <> 0 FROM AspNetUsers AS u WHERE u.Id = NEW.user_id), 0)
    WHERE user_id = NEW.user_id;
END;

CREATE TRIGGER account_directory_on_confirm AFTER UPDATE ON AspNetUsers WHEN OLD.EmailConfirmed IS NOT NEW.EmailConfirmed
BEGIN
    UPDATE account_signups SET email_confirmed = NEW.EmailConfirmed <> 0 WHERE user_id = NEW.Id;
END;

-- Balances change with every generation; the plan only when one of them crosses zero.
CREATE TRIGGER account_plan_on_balance_insert AFTER INSERT ON credit_balances
BEGIN
    UPDATE account_signups SET plan = (SELECT p.plan FROM account_plans AS p WHERE p.user_id = NEW.user_id) WHERE user_id = NEW.user_id;
END;
CREATE TRIGGER account_plan_on_balance_update AFTER UPDATE OF trial_balance, prepaid_balance ON credit_balances
WHEN (OLD.trial_balance > 0) IS NOT (NEW.trial_balance > 0) OR (OLD.prepaid_balance > 0) IS NOT (NEW.prepaid_balance > 0)
BEGIN
    UPDATE account_signups SET plan = (SELECT p.plan FROM account_plans AS p WHERE p.user_id = NEW.user_id) WHERE user_id = NEW.user_id;
END;
CREATE TRIGGER account_plan_on_balance_delete AFTER DELETE ON credit_balances
BEGIN
    UPDATE account_signups SET plan = (SELECT p.plan FROM account_plans AS p WHERE p.user_id = OLD.user_id) WHERE user_id = OLD.user_id;
END;

CREATE TRIGGER account_plan_on_subscription_insert AFTER INSERT ON subscriptions
BEGIN
    UPDATE account_signups SET plan = (SELECT p.plan FROM account_plans AS p WHERE p.user_id = NEW.user_id) WHERE user_id = NEW.user_id;
END;
CREATE TRIGGER account_plan_on_subscription_update AFTER UPDATE OF status, user_id ON subscriptions
BEGIN
    UPDATE account_signups SET plan = (SELECT p.plan FROM account_plans AS p WHERE p.user_id = account_signups.user_id)
    WHERE user_id IN (OLD.user_id, NEW.user_id);
END;
CREATE TRIGGER account_plan_on_subscription_delete AFTER DELETE ON subscriptions
BEGIN
    UPDATE account_signups SET plan = (SELECT p.plan FROM account_plans AS p WHERE p.user_id = OLD.user_id) WHERE user_id = OLD.user_id;
END;

CREATE TRIGGER account_plan_on_card_insert AFTER INSERT ON billing_customers
BEGIN
    UPDATE account_signups SET plan = (SELECT p.plan FROM account_plans AS p WHERE p.user_id = NEW.user_id) WHERE user_id = NEW.user_id;
END;
CREATE TRIGGER account_plan_on_card_update AFTER UPDATE OF user_id, pay_per_use_card, default_payment_method ON billing_customers
BEGIN
    UPDATE account_signups SET plan = (SELECT p.plan FROM account_plans AS p WHERE p.user_id = account_signups.user_id)
    WHERE user_id IN (OLD.user_id, NEW.user_id);
END;
CREATE TRIGGER account_plan_on_card_delete AFTER DELETE ON billing_customers
BEGIN
    UPDATE account_signups SET plan = (SELECT p.plan FROM account_plans AS p WHERE p.user_id = OLD.user_id) WHERE user_id = OLD.user_id;
END;

-- A customer's webhook events for the timeline: one row per event about one of their Stripe objects (customer,
-- subscriptions, checkout sessions, payments, payment intents, charges), read newest first on its primary key. An event
-- is linked when it is stored and its object is known, or when the object is recorded after its event.
CREATE VIEW stripe_object_owners AS
SELECT stripe_customer_id AS object_id, user_id FROM billing_customers
UNION ALL SELECT stripe_subscription_id, user_id FROM subscriptions
UNION ALL SELECT id, user_id FROM checkout_sessions
UNION ALL SELECT stripe_id, user_id FROM payments
          WHERE kind IN ('bundle', 'subscription_invoice', 'authorisation', 'capture', 'refund') AND user_id IS NOT NULL
UNION ALL SELECT payment_intent_id, user_id FROM payments WHERE payment_intent_id IS NOT NULL AND user_id IS NOT NULL
UNION ALL SELECT charge_id, user_id FROM payments WHERE charge_id IS NOT NULL AND user_id IS NOT NULL;

CREATE TABLE customer_events (
    user_id      TEXT NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    received_at  TEXT NOT NULL,
    event_id     TEXT NOT NULL REFERENCES stripe_events (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, received_at, event_id)
) WITHOUT ROWID;

INSERT OR IGNORE INTO customer_events (user_id, received_at, event_id)
SELECT o.user_id, e.received_at, e.id
FROM stripe_events AS e
JOIN stripe_object_owners AS o ON o.object_id = e.object_id;

CREATE TRIGGER customer_events_on_event AFTER INSERT ON stripe_events WHEN NEW.object_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO customer_events (user_id, received_at, event_id)
    SELECT o.user_id, NEW.received_at, NEW.id FROM stripe_object_owners AS o WHERE o.object_id = NEW.object_id;
END;

CREATE TRIGGER customer_events_on_payment_insert AFTER INSERT ON payments WHEN NEW.user_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id IN (NEW.stripe_id, NEW.payment_intent_id, NEW.charge_id);
END;
CREATE TRIGGER customer_events_on_payment_update AFTER UPDATE OF user_id, stripe_id, payment_intent_id, charge_id ON payments
WHEN NEW.user_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id IN (NEW.stripe_id, NEW.payment_intent_id, NEW.charge_id);
END;

CREATE TRIGGER customer_events_on_customer_insert AFTER INSERT ON billing_customers
BEGIN
    INSERT OR IGNORE INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id = NEW.stripe_customer_id;
END;
CREATE TRIGGER customer_events_on_customer_update AFTER UPDATE OF user_id, stripe_customer_id ON billing_customers
BEGIN
    INSERT OR IGNORE INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id = NEW.stripe_customer_id;
END;

CREATE TRIGGER customer_events_on_subscription_insert AFTER INSERT ON subscriptions
BEGIN
    INSERT OR IGNORE INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id = NEW.stripe_subscription_id;
END;
CREATE TRIGGER customer_events_on_subscription_update AFTER UPDATE OF user_id ON subscriptions
BEGIN
    INSERT OR IGNORE INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id = NEW.stripe_subscription_id;
END;

CREATE TRIGGER customer_events_on_checkout_insert AFTER INSERT ON checkout_sessions
BEGIN
    INSERT OR IGNORE INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id = NEW.id;
END;
