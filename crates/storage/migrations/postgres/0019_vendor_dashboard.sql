-- The vendor dashboard counts the vendor's orders to ship (its unfulfilled parts of paid orders)
-- and lists its orders by status newest first, from this index instead of all its orders.
CREATE INDEX vendor_orders_vendor_status ON vendor_orders (vendor_id, status, order_id);
