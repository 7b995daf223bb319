-- What Stripe says about a customer that the credits feature needs to choose a funding source.
-- Written by the billing feature (checkout and webhooks); read by the credits feature.
CREATE TABLE billing_customers (
    user_id                 TEXT NOT NULL PRIMARY KEY REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    stripe_customer_id      TEXT NOT NULL UNIQUE,
    default_payment_method  TEXT,
    card_brand              TEXT,
    card_last4              TEXT,
    updated_at              TEXT NOT NULL
);

-- The customer's monthly plan as Stripe last told us. last_event_created guards against older events
-- overwriting newer state.
CREATE TABLE subscriptions (
    stripe_subscription_id  TEXT    NOT NULL PRIMARY KEY,
    user_id                 TEXT    NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    plan_key                TEXT    NOT NULL,
    status                  TEXT    NOT NULL,
    current_period_start    TEXT,
    current_period_end      TEXT,
    cancel_at_period_end    INTEGER NOT NULL DEFAULT 0,
    last_event_created      INTEGER NOT NULL DEFAULT 0,
    updated_at              TEXT    NOT NULL
);
CREATE INDEX ix_subscriptions_user ON subscriptions (user_id, status);
