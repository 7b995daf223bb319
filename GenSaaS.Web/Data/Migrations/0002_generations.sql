-- One row per finished image. Failed attempts leave no row here; their usage row says what happened.
CREATE TABLE generations (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    prompt       TEXT    NOT NULL,
    seed         INTEGER NOT NULL,
    backend      TEXT    NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    created_at   TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX ix_generations_user_created ON generations (user_id, created_at DESC);
