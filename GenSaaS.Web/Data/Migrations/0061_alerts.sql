-- Operator alerts: a row per (rule, subject) while the condition holds. The partial unique index keeps one open alert per
-- rule and subject, so a condition that stays true opens nothing new; resolving stamps resolved_at, and a later recurrence
-- is a new row. Notification columns make each email and webhook post go out once per opening and once per resolution.
CREATE TABLE alerts (
    id                   INTEGER NOT NULL PRIMARY KEY,
    rule                 TEXT    NOT NULL,
    subject              TEXT    NOT NULL DEFAULT '',
    title                TEXT    NOT NULL,
    detail               TEXT    NOT NULL,
    link                 TEXT,
    opened_at            TEXT    NOT NULL,
    resolved_at          TEXT,
    opened_posted_at     TEXT,
    resolved_posted_at   TEXT,
    CHECK (resolved_at IS NULL OR resolved_at >= opened_at)
);
CREATE UNIQUE INDEX ux_alerts_open ON alerts (rule, subject) WHERE resolved_at IS NULL;
CREATE INDEX ix_alerts_opened ON alerts (opened_at DESC, id DESC);
