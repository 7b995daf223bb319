-- ix_usage_user_created served no query: a user's usage is found through the unique (user_id, idempotency_key) index,
-- which also serves the cascade when an account is deleted. Each reservation paid for it with one more index write.
DROP INDEX IF EXISTS ix_usage_user_created;
