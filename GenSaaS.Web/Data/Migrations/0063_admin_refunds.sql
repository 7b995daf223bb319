-- One row per admin refund, keyed by the intent that asked for it: 'admin-page:{admin}:{form token}' from the customer page,
-- 'admin-api:{admin}:{Idempotency-Key}' from the admin API. Written in the write transaction that records the refund and
-- its audit entry, so a double submit, a second tab, a resent form or an API replay finds it and answers the first refund
-- instead of making (or auditing) a second; the same key for another payment or amount is a conflict.
-- amount_requested: what was asked (NULL: all that remained). The refund itself is the payments row of kind 'refund'.
CREATE TABLE admin_refunds (
    reference         TEXT    NOT NULL PRIMARY KEY,
    payment_id        INTEGER NOT NULL REFERENCES payments (id),
    amount_requested  INTEGER CHECK (amount_requested > 0),
    stripe_refund_id  TEXT    NOT NULL,
    audit_id          INTEGER NOT NULL REFERENCES audit_log (id),
    created_at        TEXT    NOT NULL
);
CREATE INDEX ix_admin_refunds_payment ON admin_refunds (payment_id);
