-- Durable events for live streams (SSE) and, later, outgoing webhooks. Written in the same
-- transaction as the change they describe, so a rolled-back change has no event and a committed
-- one always has its event. A row's audience: the order's customer and admins (vendor_id NULL),
-- or one vendor (vendor_id set; its data mentions only that vendor's part).
CREATE TABLE events (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    order_id BLOB,
    vendor_id BLOB,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_order ON events (order_id, id);
CREATE INDEX events_vendor ON events (vendor_id, id);
CREATE INDEX events_created ON events (created_at);
