-- What billing keeps about the Stripe account it set up itself: the webhook endpoint `stripe sync` registered, that
-- endpoint's signing secret (Stripe shows it only once, when the endpoint is created) and the portal configuration.
CREATE TABLE billing_settings (
    key         TEXT NOT NULL PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
