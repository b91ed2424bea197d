-- A vendor order may ship in several parcels (partial shipments), and a refund may be aimed
-- at given lines. Each shipment carries its own carrier and tracking number and the lines
-- (and quantities) in the parcel; order_lines.shipped_quantity is their running sum, so the
-- fulfilment state is read from quantities, not from one flag per vendor order.
ALTER TABLE order_lines ADD COLUMN shipped_quantity BIGINT NOT NULL DEFAULT 0 CHECK (shipped_quantity >= 0);

CREATE TABLE shipments (
    id UUID PRIMARY KEY NOT NULL,
    order_id UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    vendor_order_id UUID NOT NULL REFERENCES vendor_orders (id) ON DELETE CASCADE,
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX shipments_vendor_order ON shipments (vendor_order_id, created_at);

CREATE TABLE shipment_lines (
    shipment_id UUID NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    order_line_id UUID NOT NULL REFERENCES order_lines (id) ON DELETE CASCADE,
    quantity BIGINT NOT NULL CHECK (quantity >= 1),
    PRIMARY KEY (shipment_id, order_line_id)
);
CREATE INDEX shipment_lines_line ON shipment_lines (order_line_id);

-- Vendor orders shipped before this migration shipped whole, in one parcel (its id is the
-- vendor order's: ids are opaque and the two never meet in one table).
INSERT INTO shipments (id, order_id, vendor_order_id, carrier, tracking_number, created_at, updated_at)
SELECT id, order_id, id, COALESCE(carrier, ''), COALESCE(tracking_number, ''), COALESCE(fulfilled_at, created_at), COALESCE(fulfilled_at, created_at)
FROM vendor_orders WHERE status = 'fulfilled';
INSERT INTO shipment_lines (shipment_id, order_line_id, quantity)
SELECT l.vendor_order_id, l.id, l.quantity FROM order_lines l
JOIN vendor_orders v ON v.id = l.vendor_order_id WHERE v.status = 'fulfilled';
UPDATE order_lines SET shipped_quantity = quantity
WHERE vendor_order_id IN (SELECT id FROM vendor_orders WHERE status = 'fulfilled');

-- The lines a refund gives money back for (a refund aimed at lines); the quantities are
-- reserved while the refund is pending, so two refunds cannot both return the same unit.
CREATE TABLE refund_lines (
    refund_id UUID NOT NULL REFERENCES refunds (id) ON DELETE CASCADE,
    order_line_id UUID NOT NULL REFERENCES order_lines (id) ON DELETE RESTRICT,
    quantity BIGINT NOT NULL CHECK (quantity >= 1),
    amount BIGINT NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (refund_id, order_line_id)
);
CREATE INDEX refund_lines_line ON refund_lines (order_line_id);
