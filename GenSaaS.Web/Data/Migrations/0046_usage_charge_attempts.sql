-- Pay per use under network faults: how often a capture was tried and why it last failed (the failed-captures page and
-- the sweeper's next idempotency key), and the hold's deadline at Stripe (the charge's capture_before) for the hold watchdog.
ALTER TABLE usage_charges ADD COLUMN capture_attempts INTEGER NOT NULL DEFAULT 0 CHECK (capture_attempts >= 0);
ALTER TABLE usage_charges ADD COLUMN last_error_at TEXT;
ALTER TABLE usage_charges ADD COLUMN capture_before TEXT;

-- The failed-captures page: holds whose capture has been tried and is not finished, and holds that ended without one.
CREATE INDEX ix_usage_charges_attempted ON usage_charges (updated_at) WHERE capture_attempts > 0 OR error IS NOT NULL;
