-- How many times the app has stored each subscription. A writer reads it before asking Stripe and stores Stripe's answer
-- only if it is unchanged: an answer read before another writer's store may be older than what that writer stored, and the
-- event times (whole seconds, from Stripe's clocks) cannot tell. The writer that finds it moved asks Stripe again.
ALTER TABLE subscriptions ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
