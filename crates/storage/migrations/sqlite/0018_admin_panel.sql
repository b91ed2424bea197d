-- An order's (or vendor's, product's…) page shows its audit entries beside its events, and the
-- audit log filters by action: both start from an index instead of reading the whole log.
CREATE INDEX audit_log_subject ON audit_log (subject_type, subject_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
-- The admin home counts variants at or below the low-stock threshold (souk_domain::cart::
-- LOW_STOCK_THRESHOLD) from this small index instead of reading every variant.
CREATE INDEX variants_low_stock ON variants (stock) WHERE track_inventory AND stock <= 5;
-- An account platform staff disabled: it cannot sign in, and its sessions stop working.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
-- The admin order list filtered by status walks that status's orders newest first (ids grow
-- with time) instead of sorting all of them; filtered by vendor, it walks the vendor's orders.
CREATE INDEX orders_status_newest ON orders (status, id);
CREATE INDEX vendor_orders_vendor_order ON vendor_orders (vendor_id, order_id);
-- The home page's 30-day sales by day read only this index (placed_at, then what is summed).
DROP INDEX orders_placed;
CREATE INDEX orders_placed ON orders (placed_at, status, total);
