-- The vendor dashboard's lists, newest first (by id), read from an index in that order instead
-- of sorting all the vendor's rows for every page (a vendor with 100,000 orders: 23 ms a page
-- sorted, well under 1 ms walked):
-- - orders, all or of one status; the order id rides along for the home page's count of
--   unfulfilled parts of paid orders, which joins orders on it;
CREATE INDEX vendor_orders_vendor_newest ON vendor_orders (vendor_id, id);
CREATE INDEX vendor_orders_vendor_status ON vendor_orders (vendor_id, status, id, order_id);
-- - products, all or of one status (also the admin's catalog of one status).
CREATE INDEX products_vendor_id ON products (vendor_id, id);
CREATE INDEX products_vendor_status_id ON products (vendor_id, status, id);
CREATE INDEX products_status_id ON products (status, id);
