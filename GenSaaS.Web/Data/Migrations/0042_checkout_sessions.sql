-- The Checkout Sessions this app created, and for whom. The success page asks Stripe only about a signed-in customer's
-- own session that is still pending; once it is complete or expired the answer is here.
CREATE TABLE checkout_sessions (
    id          TEXT NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    mode        TEXT NOT NULL,
    plan_key    TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'complete', 'expired')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX ix_checkout_sessions_user ON checkout_sessions (user_id, created_at);
