-- Personal API keys. The key itself is shown once; only its SHA-256 and a short visible prefix are kept.
CREATE TABLE api_keys (
    id            TEXT NOT NULL PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT NULL,
    revoked_at    TEXT NULL
);
CREATE INDEX ix_api_keys_user_created ON api_keys (user_id, created_at DESC);
