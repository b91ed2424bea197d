-- Durable events for live streams (SSE) and, later, outgoing webhooks. Written in the same
-- transaction as the change they describe, so a rolled-back change has no event and a committed
-- one always has its event. A row's audience: the order's customer and admins (vendor_id NULL),
-- or one vendor (vendor_id set; its data mentions only that vendor's part).
CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    order_id UUID,
    vendor_id UUID,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_order ON events (order_id, id);
CREATE INDEX events_vendor ON events (vendor_id, id);
CREATE INDEX events_created ON events (created_at);
