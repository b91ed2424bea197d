-- A refund may be aimed at one vendor order: it then comes out of that vendor's part only
-- (NULL: spread over the vendor orders in proportion, as before).
ALTER TABLE refunds ADD COLUMN vendor_order_id UUID REFERENCES vendor_orders (id) ON DELETE RESTRICT;
CREATE INDEX refunds_vendor_order ON refunds (vendor_order_id) WHERE vendor_order_id IS NOT NULL;
