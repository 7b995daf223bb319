-- The admin's customer list and timeline. Identity's user table keeps no sign-up time, so each account's is kept here,
-- written by a trigger in the same statement that creates the user (whichever path creates it: sign-up, an external
-- login, the CLI), in the app's time format. Accounts made before this script get their earliest trace: the first ledger
-- line (trial credits are granted on first use) or session, else now.
-- (IF NOT EXISTS: 0056, which runs first on a new database, makes the same table, index and trigger.)
CREATE TABLE IF NOT EXISTS account_signups (
    user_id     TEXT NOT NULL PRIMARY KEY REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL
) WITHOUT ROWID;
-- The customer list, newest first, paged by (created_at, user_id): one seek at any depth.
CREATE INDEX IF NOT EXISTS ix_account_signups_created ON account_signups (created_at, user_id);

INSERT INTO account_signups (user_id, created_at)
SELECT u.Id,
       coalesce((SELECT min(l.created_at) FROM credit_ledger AS l WHERE l.user_id = u.Id),
                (SELECT min(s.created_at) FROM user_sessions AS s WHERE s.user_id = u.Id),
                strftime('%Y-%m-%d %H:%M:%f0000', 'now'))
FROM AspNetUsers AS u;

CREATE TRIGGER IF NOT EXISTS account_signed_up AFTER INSERT ON AspNetUsers
BEGIN
    INSERT INTO account_signups (user_id, created_at) VALUES (NEW.Id, strftime('%Y-%m-%d %H:%M:%f0000', 'now'))
    ON CONFLICT (user_id) DO NOTHING;
END;

-- A customer's webhook events on their timeline: the events about their Stripe objects (customer, subscriptions,
-- checkout sessions, payments), newest first.
CREATE INDEX ix_stripe_events_object ON stripe_events (object_id, received_at);
