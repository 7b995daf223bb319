-- One-time sign-in links. Only the SHA-256 of the token is kept, so a copy of the database cannot sign anyone in.
CREATE TABLE magic_links (
    token_hash  TEXT NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT NULL
);
CREATE INDEX ix_magic_links_user_created ON magic_links (user_id, created_at);
