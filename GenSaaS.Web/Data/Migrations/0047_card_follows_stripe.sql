-- The card the app charges follows the customer's default card at Stripe (portal, Checkout, setup sessions).
-- pay_per_use_card: the customer chose to pay per use by saving a card; only then do card changes at Stripe become
-- the card charged per generation (a subscriber's card is never charged per use without that choice).
ALTER TABLE billing_customers ADD COLUMN card_exp_month INTEGER;
ALTER TABLE billing_customers ADD COLUMN card_exp_year INTEGER;
ALTER TABLE billing_customers ADD COLUMN pay_per_use_card INTEGER NOT NULL DEFAULT 0 CHECK (pay_per_use_card IN (0, 1));

UPDATE billing_customers SET pay_per_use_card = 1 WHERE default_payment_method IS NOT NULL;
