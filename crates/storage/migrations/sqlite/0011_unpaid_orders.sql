-- Who an order counts against for the limit on unpaid orders and per-customer coupons: the
-- account's or typed email address, normalised (lower case, no +tag; Gmail without dots).
ALTER TABLE orders ADD COLUMN customer_key TEXT;
-- The limit counts unpaid orders per customer at every checkout.
CREATE INDEX orders_unpaid_by_customer ON orders (customer_key) WHERE status = 'pending_payment';
-- Unpaid orders placed before this count too (by their address in lower case; a +tag is
-- only folded for orders from now on).
UPDATE orders SET customer_key = lower(email) WHERE status = 'pending_payment';
