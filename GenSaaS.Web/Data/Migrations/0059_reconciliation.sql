-- Reconciliation with Stripe: one row per run over a period of whole UTC days ([period_from, period_to)), its totals per
-- currency, and each line where the app and Stripe (or the app and itself) disagree. Matched lines are only counted.
-- status: queued -> running -> matched | differences | failed (error says why; a failed run never claims a match).
CREATE TABLE reconciliation_runs (
    id                INTEGER NOT NULL PRIMARY KEY,
    period_from       TEXT    NOT NULL,
    period_to         TEXT    NOT NULL,
    trigger           TEXT    NOT NULL CHECK (trigger IN ('schedule', 'admin', 'cli')),
    requested_by      TEXT,
    status            TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'matched', 'differences', 'failed')),
    matched           INTEGER NOT NULL DEFAULT 0 CHECK (matched >= 0),
    differences       INTEGER NOT NULL DEFAULT 0 CHECK (differences >= 0),
    events_caught_up  INTEGER NOT NULL DEFAULT 0 CHECK (events_caught_up >= 0),
    error             TEXT,
    created_at        TEXT    NOT NULL,
    started_at        TEXT,
    finished_at       TEXT,
    CHECK (period_from < period_to),
    CHECK (status <> 'failed' OR error IS NOT NULL)
);

CREATE TABLE reconciliation_totals (
    run_id             INTEGER NOT NULL REFERENCES reconciliation_runs (id) ON DELETE CASCADE,
    currency           TEXT    NOT NULL,
    gross_minor        INTEGER NOT NULL,
    refunds_minor      INTEGER NOT NULL,
    fees_minor         INTEGER NOT NULL,
    net_minor          INTEGER NOT NULL,
    app_revenue_minor  INTEGER NOT NULL,
    difference_minor   INTEGER NOT NULL,
    matched            INTEGER NOT NULL,
    differences        INTEGER NOT NULL,
    PRIMARY KEY (run_id, currency)
) WITHOUT ROWID;

CREATE TABLE reconciliation_lines (
    id                   INTEGER NOT NULL PRIMARY KEY,
    run_id               INTEGER NOT NULL REFERENCES reconciliation_runs (id) ON DELETE CASCADE,
    kind                 TEXT    NOT NULL CHECK (kind IN ('missing_here', 'missing_at_stripe', 'amount_differs', 'state_differs',
                                                          'hold_open', 'grant_without_payment', 'generation_without_funding')),
    object               TEXT    NOT NULL,
    currency             TEXT    NOT NULL,
    stripe_id            TEXT,
    app_reference        TEXT,
    user_id              TEXT,
    stripe_amount_minor  INTEGER,
    app_amount_minor     INTEGER,
    stripe_state         TEXT,
    app_state            TEXT,
    detail               TEXT    NOT NULL
);
CREATE INDEX ix_reconciliation_lines_run ON reconciliation_lines (run_id, id);
