-- 0056's customer_events triggers used INSERT OR IGNORE. In SQLite the conflict policy of the statement that fires a trigger
-- replaces the one written in the trigger's body, so under an upsert of payments (Payments.RecordAsync), a second record of
-- the same object made the trigger's insert fail with a UNIQUE error and took the payment write down with it (a webhook
-- replayed after its effect was applied failed). An upsert clause in the trigger (ON CONFLICT DO NOTHING) is not replaced,
-- as the per-day triggers of 0054 and 0062 already rely on. Same triggers, same rows, only the conflict handling differs.
DROP TRIGGER customer_events_on_event;
DROP TRIGGER customer_events_on_payment_insert;
DROP TRIGGER customer_events_on_payment_update;
DROP TRIGGER customer_events_on_customer_insert;
DROP TRIGGER customer_events_on_customer_update;
DROP TRIGGER customer_events_on_subscription_insert;
DROP TRIGGER customer_events_on_subscription_update;
DROP TRIGGER customer_events_on_checkout_insert;

CREATE TRIGGER customer_events_on_event AFTER INSERT ON stripe_events WHEN NEW.object_id IS NOT NULL
BEGIN
    INSERT INTO customer_events (user_id, received_at, event_id)
    SELECT o.user_id, NEW.received_at, NEW.id FROM stripe_object_owners AS o WHERE o.object_id = NEW.object_id
    ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER customer_events_on_payment_insert AFTER INSERT ON payments WHEN NEW.user_id IS NOT NULL
BEGIN
    INSERT INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id IN (NEW.stripe_id, NEW.payment_intent_id, NEW.charge_id)
    ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER customer_events_on_payment_update AFTER UPDATE OF user_id, stripe_id, payment_intent_id, charge_id ON payments
WHEN NEW.user_id IS NOT NULL
BEGIN
    INSERT INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id IN (NEW.stripe_id, NEW.payment_intent_id, NEW.charge_id)
    ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER customer_events_on_customer_insert AFTER INSERT ON billing_customers
BEGIN
    INSERT INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id = NEW.stripe_customer_id
    ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER customer_events_on_customer_update AFTER UPDATE OF user_id, stripe_customer_id ON billing_customers
BEGIN
    INSERT INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id = NEW.stripe_customer_id
    ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER customer_events_on_subscription_insert AFTER INSERT ON subscriptions
BEGIN
    INSERT INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id = NEW.stripe_subscription_id
    ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER customer_events_on_subscription_update AFTER UPDATE OF user_id ON subscriptions
BEGIN
    INSERT INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id = NEW.stripe_subscription_id
    ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER customer_events_on_checkout_insert AFTER INSERT ON checkout_sessions
BEGIN
    INSERT INTO customer_events (user_id, received_at, event_id)
    SELECT NEW.user_id, e.received_at, e.id FROM stripe_events AS e WHERE e.object_id = NEW.id
    ON CONFLICT DO NOTHING;
END;
