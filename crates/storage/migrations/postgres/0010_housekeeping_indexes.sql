-- Indexes for work that runs often on a subset of rows:
-- a busy webhook endpoint's backlog is counted each time one of its deliveries steps aside;
CREATE INDEX webhook_messages_pending ON webhook_messages (endpoint_id) WHERE status = 'pending';
-- housekeeping looks for carts nobody touched for 30 days that never became an order.
CREATE INDEX carts_stale ON carts (updated_at) WHERE status IN ('open', 'merged');
