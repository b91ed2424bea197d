-- Outgoing webhooks. An endpoint belongs to one vendor (its own events) or, with vendor_id NULL,
-- to the platform (every event). Its signing secret is derived from the server key and
-- (id, secret_version); it is never stored.
CREATE TABLE webhook_endpoints (
    id UUID PRIMARY KEY,
    vendor_id UUID REFERENCES vendors (id) ON DELETE CASCADE,
    url TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    description TEXT NOT NULL DEFAULT '',
    -- Space-separated event types.
    event_types TEXT NOT NULL CHECK (length(event_types) > 0),
    status TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    disabled_reason TEXT,
    secret_version BIGINT NOT NULL DEFAULT 1 CHECK (secret_version > 0),
    -- First failed attempt since the last success: when it is older than the configured
    -- period, the endpoint is disabled and its owner emailed.
    failing_since BIGINT,
    created_by UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_vendor ON webhook_endpoints (vendor_id);

-- One event for one endpoint. Created in the transaction of the change (with its delivery job),
-- so a rolled-back change sends nothing and a committed one is never lost. Its id is the
-- `webhook-id` receivers see on every attempt.
CREATE TABLE webhook_messages (
    id UUID PRIMARY KEY,
    endpoint_id UUID NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'skipped')),
    attempts BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, id);
CREATE INDEX webhook_messages_created ON webhook_messages (created_at);

-- The delivery log: one row per HTTP attempt.
CREATE TABLE webhook_attempts (
    id UUID PRIMARY KEY,
    message_id UUID NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    endpoint_id UUID NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL CHECK (attempt > 0),
    status_code BIGINT,
    error TEXT,
    response_snippet TEXT,
    latency_ms BIGINT NOT NULL CHECK (latency_ms >= 0),
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id, id);
