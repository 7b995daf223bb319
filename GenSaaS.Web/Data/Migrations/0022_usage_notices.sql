-- Fair-use emails already sent, so each threshold of a period is announced once.
CREATE TABLE usage_notices (
    user_id       TEXT    NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    period_start  TEXT    NOT NULL,
    threshold     INTEGER NOT NULL,
    sent_at       TEXT    NOT NULL,
    PRIMARY KEY (user_id, period_start, threshold)
);
