-- Every admin action and every operator (CLI) action: who, what, to whom, why, and the state before and after, as JSON.
-- Append-only: the triggers refuse any UPDATE or DELETE, so no code path (and no stray sqlite3 session through the app's
-- schema) can rewrite history. ids only grow (nothing is ever deleted, so max(id)+1 is never reused) and follow commit
-- order; an entry is written in the same write transaction as the change it records.
-- actor: the admin's user id, or 'cli:<os user>'. actor_kind: how they acted ('admin' page, 'api_key', 'cli').
-- target: what was acted on (a user id, a payment id), when anything.
CREATE TABLE audit_log (
    id           INTEGER NOT NULL PRIMARY KEY,
    at           TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    actor_kind   TEXT    NOT NULL CHECK (actor_kind IN ('admin', 'api_key', 'cli', 'system')),
    action       TEXT    NOT NULL,
    target       TEXT,
    reason       TEXT,
    before_json  TEXT,
    after_json   TEXT
);
-- The filters of /admin/audit, each a seek ending in id (newest first): by actor, by action, by target (a customer's admin
-- actions on their timeline).
CREATE INDEX ix_audit_log_actor ON audit_log (actor, id);
CREATE INDEX ix_audit_log_action ON audit_log (action, id);
CREATE INDEX ix_audit_log_target ON audit_log (target, id) WHERE target IS NOT NULL;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be changed');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be deleted');
END;
