-- /admin/billing/events and GET /api/v1/admin/events: newest first by (received_at, id), paged by cursor, filtered by
-- status, type, object or customer; each filter is one index seek ending in (received_at, id), so a deep page costs what
-- the first does and no filter sorts.

-- The Stripe customer an event is about, read from its payload: the object's `customer` (checkout sessions, invoices,
-- subscriptions, payment intents, charges, payment methods, setup intents), else the customer a detached payment method
-- had (`previous_attributes.customer`), else the object itself when it is a customer. Null for a body that is not JSON.
-- Virtual: computed from the payload, stored only in its index.
ALTER TABLE stripe_events ADD COLUMN customer_id TEXT GENERATED ALWAYS AS (
    CASE WHEN json_valid(payload) THEN coalesce(
        CASE WHEN json_type(payload, '$.data.object.customer') = 'text' THEN json_extract(payload, '$.data.object.customer') END,
        CASE WHEN json_type(payload, '$.data.previous_attributes.customer') = 'text' THEN json_extract(payload, '$.data.previous_attributes.customer') END,
        CASE WHEN json_extract(payload, '$.data.object.object') = 'customer' AND json_type(payload, '$.data.object.id') = 'text'
             THEN json_extract(payload, '$.data.object.id') END)
    END) VIRTUAL;

DROP INDEX ix_stripe_events_received;
CREATE INDEX ix_stripe_events_received ON stripe_events (received_at, id);
DROP INDEX ix_stripe_events_status;
CREATE INDEX ix_stripe_events_status ON stripe_events (status, received_at, id);
DROP INDEX ix_stripe_events_object;
CREATE INDEX ix_stripe_events_object ON stripe_events (object_id, received_at, id);
CREATE INDEX ix_stripe_events_type ON stripe_events (type, received_at, id);
CREATE INDEX ix_stripe_events_customer ON stripe_events (customer_id, received_at, id) WHERE customer_id IS NOT NULL;

-- An admin's replay of a failed event, claimed by the token of the form that asked for it (made when the page was shown):
-- the same form sent twice finds its claim and replays nothing again; one replay of an event runs at a time. `outcome`
-- is what the replay said it changed, written with its audit entry when it ends.
CREATE TABLE stripe_event_replays (
    token        TEXT NOT NULL PRIMARY KEY,
    event_id     TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT,
    outcome      TEXT,
    audit_id     INTEGER
);
CREATE INDEX ix_stripe_event_replays_event ON stripe_event_replays (event_id, started_at);
