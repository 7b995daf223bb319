-- Server-side sign-in sessions. The cookie carries a random token; only its SHA-256 is kept. A cookie whose session
-- row is revoked (sign-out, "sign out everywhere", a password or email change elsewhere) or missing is refused.
CREATE TABLE user_sessions (
    id            TEXT NOT NULL PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    user_agent    TEXT NULL,
    ip            TEXT NULL,
    revoked_at    TEXT NULL
);
CREATE INDEX ix_user_sessions_user_live ON user_sessions (user_id) WHERE revoked_at IS NULL;
