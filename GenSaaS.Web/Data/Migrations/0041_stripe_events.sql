-- Each Stripe event once, by id, with how applying it went. status: received -> applied | failed (retried) | ignored.
CREATE TABLE stripe_events (
    id            TEXT    NOT NULL PRIMARY KEY,
    type          TEXT    NOT NULL,
    object_id     TEXT,
    created       INTEGER NOT NULL,
    payload       TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('received', 'applied', 'failed', 'ignored')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    received_at   TEXT    NOT NULL,
    applied_at    TEXT
);
CREATE INDEX ix_stripe_events_status ON stripe_events (status, received_at);
CREATE INDEX ix_stripe_events_received ON stripe_events (received_at);

-- The created time of the newest event applied per Stripe object, so an older event never overwrites newer state.
CREATE TABLE stripe_object_versions (
    object_id           TEXT    NOT NULL PRIMARY KEY,
    last_event_created  INTEGER NOT NULL,
    last_event_id       TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL
);
