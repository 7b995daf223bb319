-- The admin's customer timeline shows sign-ins and the emails sent to the customer.
-- Sign-ins are the server-side sessions (0013: one row per sign-in, by password, magic link or an external login); this index
-- lets the timeline read them newest first from any position with one seek, revoked ones included.
CREATE INDEX ix_user_sessions_user_created ON user_sessions (user_id, created_at, id);

-- Every email the app sent to a customer's account (account emails and lifecycle emails), written once the relay took it.
-- sent_emails (0055) keeps only the once-per-event lifecycle emails, and not the account emails (confirmation, password
-- reset, sign-in link); this log is what was sent, for the timeline. The address is the one it went to (an email change
-- confirmation goes to the new address). Append-only from the app.
CREATE TABLE email_log (
    id        INTEGER PRIMARY KEY,
    user_id   TEXT NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    subject   TEXT NOT NULL,
    sent_to   TEXT NOT NULL,
    sent_at   TEXT NOT NULL
);
CREATE INDEX ix_email_log_user ON email_log (user_id, id);
