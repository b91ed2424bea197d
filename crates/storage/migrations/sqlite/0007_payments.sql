-- Payments through providers (Stripe), incoming webhook events, and refunds.
-- A provider payment's state only moves forward (the code checks the rank; the CHECK keeps the
-- vocabulary); an event id is processed once (primary key); refunds never exceed what was paid.

ALTER TABLE orders ADD COLUMN refunded_amount INTEGER NOT NULL DEFAULT 0
    CHECK (refunded_amount >= 0 AND refunded_amount <= paid_amount);
ALTER TABLE vendor_orders ADD COLUMN refunded INTEGER NOT NULL DEFAULT 0
    CHECK (refunded >= 0 AND refunded <= total);

-- One row per attempt to collect an order's total through a provider. The provider's own id
-- (Stripe: pi_…) is known once the provider answered; the idempotency key sent to the provider
-- is derived from (order id, attempt), so a retry after a crash finds the same payment.
CREATE TABLE provider_payments (
    id BLOB PRIMARY KEY NOT NULL,
    order_id BLOB NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    attempt INTEGER NOT NULL CHECK (attempt >= 1),
    provider_ref TEXT,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    state TEXT NOT NULL CHECK (state IN ('pending', 'failed', 'processing', 'succeeded', 'canceled')),
    amount_refunded INTEGER NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0 AND amount_refunded <= amount),
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (order_id, attempt)
);
CREATE UNIQUE INDEX provider_payments_ref ON provider_payments (provider, provider_ref);
CREATE INDEX provider_payments_state ON provider_payments (state, updated_at);

-- Incoming provider events already processed (a duplicate delivery changes nothing).
CREATE TABLE webhook_events (
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (provider, event_id)
);

-- Money returned to a customer. `pending` while the provider is asked; a refund request is
-- idempotent per (order, key).
CREATE TABLE refunds (
    id BLOB PRIMARY KEY NOT NULL,
    order_id BLOB NOT NULL REFERENCES orders (id) ON DELETE RESTRICT,
    provider TEXT NOT NULL,
    provider_ref TEXT,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    reason TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    key_hash BLOB,
    created_by BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX refunds_key ON refunds (order_id, key_hash);
CREATE UNIQUE INDEX refunds_provider_ref ON refunds (provider, provider_ref);
CREATE INDEX refunds_order ON refunds (order_id, created_at);
