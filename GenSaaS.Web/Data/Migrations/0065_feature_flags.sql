-- Feature flags that admins edit (/admin/flags, PUT /api/v1/admin/flags/{name}, `flags set`). A flag without a row behaves as
-- configured (on, as far as the flag is concerned). enabled = 0 turns the feature off for everyone; when enabled, it is on for
-- the listed accounts (user ids, JSON array) and for the users whose bucket (a hash of the user id, 0-99) is below percentage.
-- version counts the changes, so a form opened before someone else's change is refused instead of undoing it.
CREATE TABLE feature_flags (
    name          TEXT    NOT NULL PRIMARY KEY,
    enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    percentage    INTEGER NOT NULL DEFAULT 100 CHECK (percentage BETWEEN 0 AND 100),
    accounts_json TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(accounts_json) AND json_type(accounts_json) = 'array'),
    message       TEXT,
    version       INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    updated_at    TEXT    NOT NULL,
    updated_by    TEXT    NOT NULL
);
