-- Carts, checkout, orders, inventory and marketplace money.
-- Invariants live in constraints: stock and coupon uses can never go below zero or above their
-- limit, one cart yields at most one order, a vendor order is paid into the ledger at most once.

ALTER TABLE vendors ADD COLUMN commission_bps INTEGER
    CHECK (commission_bps IS NULL OR (commission_bps >= 0 AND commission_bps <= 10000));

-- Shipping options a vendor offers (chosen per vendor in a cart).
CREATE TABLE shipping_rates (
    id BLOB PRIMARY KEY NOT NULL,
    vendor_id BLOB NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) > 0),
    kind TEXT NOT NULL CHECK (kind IN ('flat', 'free_over', 'by_weight')),
    -- flat: the price; free_over: the price below the threshold; by_weight: the base price.
    amount INTEGER NOT NULL CHECK (amount >= 0),
    threshold INTEGER CHECK (threshold IS NULL OR threshold >= 0),
    per_kg INTEGER CHECK (per_kg IS NULL OR per_kg >= 0),
    created_at INTEGER NOT NULL
);
CREATE INDEX shipping_rates_vendor ON shipping_rates (vendor_id, created_at);

-- Tax by destination; region '' is the whole country.
CREATE TABLE tax_rates (
    country TEXT NOT NULL CHECK (length(country) = 2),
    region TEXT NOT NULL DEFAULT '',
    rate_bps INTEGER NOT NULL CHECK (rate_bps >= 0 AND rate_bps <= 10000),
    inclusive BOOLEAN NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (country, region)
);

CREATE TABLE coupons (
    id BLOB PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('percent', 'fixed')),
    value INTEGER NOT NULL CHECK (value >= 0 AND (kind <> 'percent' OR value <= 10000)),
    min_subtotal INTEGER NOT NULL DEFAULT 0 CHECK (min_subtotal >= 0),
    starts_at INTEGER,
    expires_at INTEGER,
    max_uses INTEGER CHECK (max_uses IS NULL OR max_uses >= 0),
    per_customer_limit INTEGER CHECK (per_customer_limit IS NULL OR per_customer_limit >= 1),
    uses INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A cart's id is a capability (random, unguessable); a customer's cart is theirs alone.
CREATE TABLE carts (
    id BLOB PRIMARY KEY NOT NULL,
    user_id BLOB REFERENCES users (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('open', 'ordered', 'merged')),
    email TEXT,
    shipping_address TEXT,
    coupon_code TEXT,
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX carts_one_open_per_user ON carts (user_id) WHERE status = 'open' AND user_id IS NOT NULL;
CREATE INDEX carts_updated ON carts (status, updated_at);

CREATE TABLE cart_items (
    id BLOB PRIMARY KEY NOT NULL,
    cart_id BLOB NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    variant_id BLOB NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    quantity INTEGER NOT NULL CHECK (quantity >= 1 AND quantity <= 1000),
    note TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX cart_items_line ON cart_items (cart_id, variant_id, note);

CREATE TABLE cart_shipping (
    cart_id BLOB NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    vendor_id BLOB NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    rate_id BLOB NOT NULL REFERENCES shipping_rates (id) ON DELETE CASCADE,
    PRIMARY KEY (cart_id, vendor_id)
);

CREATE TABLE orders (
    id BLOB PRIMARY KEY NOT NULL,
    cart_id BLOB NOT NULL UNIQUE,
    user_id BLOB REFERENCES users (id) ON DELETE SET NULL,
    email TEXT NOT NULL,
    shipping_address TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending_payment', 'paid', 'partially_fulfilled',
        'fulfilled', 'completed', 'cancelled', 'partially_refunded', 'refunded')),
    payment_method TEXT NOT NULL,
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    subtotal INTEGER NOT NULL CHECK (subtotal >= 0),
    discount INTEGER NOT NULL CHECK (discount >= 0 AND discount <= subtotal),
    shipping_total INTEGER NOT NULL CHECK (shipping_total >= 0),
    tax INTEGER NOT NULL CHECK (tax >= 0),
    total INTEGER NOT NULL CHECK (total >= 0),
    paid_amount INTEGER NOT NULL DEFAULT 0 CHECK (paid_amount >= 0),
    coupon_code TEXT,
    access_token_hash BLOB NOT NULL,
    cancel_reason TEXT,
    placed_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    paid_at INTEGER,
    cancelled_at INTEGER
);
CREATE INDEX orders_user ON orders (user_id, placed_at);
CREATE INDEX orders_placed ON orders (placed_at, id);
CREATE INDEX orders_status ON orders (status, placed_at);
CREATE INDEX orders_email ON orders (email);

CREATE TABLE vendor_orders (
    id BLOB PRIMARY KEY NOT NULL,
    order_id BLOB NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    vendor_id BLOB NOT NULL REFERENCES vendors (id) ON DELETE RESTRICT,
    status TEXT NOT NULL CHECK (status IN ('unfulfilled', 'fulfilled', 'cancelled')),
    subtotal INTEGER NOT NULL CHECK (subtotal >= 0),
    discount INTEGER NOT NULL CHECK (discount >= 0),
    shipping INTEGER NOT NULL CHECK (shipping >= 0),
    tax INTEGER NOT NULL CHECK (tax >= 0),
    total INTEGER NOT NULL CHECK (total >= 0),
    shipping_rate TEXT,
    commission_bps INTEGER NOT NULL CHECK (commission_bps >= 0 AND commission_bps <= 10000),
    commission INTEGER NOT NULL CHECK (commission >= 0 AND commission <= total),
    carrier TEXT,
    tracking_number TEXT,
    fulfilled_at INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (order_id, vendor_id)
);
CREATE INDEX vendor_orders_vendor ON vendor_orders (vendor_id, created_at, id);

CREATE TABLE order_lines (
    id BLOB PRIMARY KEY NOT NULL,
    order_id BLOB NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    vendor_order_id BLOB NOT NULL REFERENCES vendor_orders (id) ON DELETE CASCADE,
    variant_id BLOB REFERENCES variants (id) ON DELETE SET NULL,
    position INTEGER NOT NULL,
    product_title TEXT NOT NULL,
    variant_title TEXT NOT NULL,
    sku TEXT,
    note TEXT NOT NULL DEFAULT '',
    unit_price INTEGER NOT NULL CHECK (unit_price >= 0),
    quantity INTEGER NOT NULL CHECK (quantity >= 1),
    amount INTEGER NOT NULL CHECK (amount >= 0),
    discount INTEGER NOT NULL CHECK (discount >= 0 AND discount <= amount),
    tax INTEGER NOT NULL CHECK (tax >= 0),
    total INTEGER NOT NULL CHECK (total >= 0),
    -- Whether stock was taken for this line (and so must be given back on cancellation).
    stock_reserved BOOLEAN NOT NULL
);
CREATE INDEX order_lines_order ON order_lines (order_id, position);
CREATE INDEX order_lines_vendor_order ON order_lines (vendor_order_id);
CREATE INDEX order_lines_variant ON order_lines (variant_id);

-- One row per use of a coupon by a customer (lower-cased email); seq numbers the customer's uses,
-- so the primary key makes a per-customer limit hold even for concurrent checkouts.
CREATE TABLE coupon_redemptions (
    coupon_id BLOB NOT NULL REFERENCES coupons (id) ON DELETE CASCADE,
    customer TEXT NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 1),
    order_id BLOB NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (coupon_id, customer, seq)
);

CREATE TABLE payments (
    id BLOB PRIMARY KEY NOT NULL,
    order_id BLOB NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    reference TEXT NOT NULL DEFAULT '',
    recorded_by BLOB,
    created_at INTEGER NOT NULL
);
CREATE INDEX payments_order ON payments (order_id);

CREATE TABLE payouts (
    id BLOB PRIMARY KEY NOT NULL,
    vendor_id BLOB NOT NULL REFERENCES vendors (id) ON DELETE RESTRICT,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    reference TEXT NOT NULL DEFAULT '',
    created_by BLOB,
    created_at INTEGER NOT NULL
);
CREATE INDEX payouts_vendor ON payouts (vendor_id, created_at);

-- Money owed to vendors and earned by the platform. Signed amounts: a vendor's balance is the
-- sum of its earning, earning_reversal and payout rows; commission rows are the platform's.
CREATE TABLE ledger_entries (
    id BLOB PRIMARY KEY NOT NULL,
    vendor_id BLOB NOT NULL REFERENCES vendors (id) ON DELETE RESTRICT,
    order_id BLOB REFERENCES orders (id) ON DELETE RESTRICT,
    vendor_order_id BLOB REFERENCES vendor_orders (id) ON DELETE RESTRICT,
    payout_id BLOB REFERENCES payouts (id) ON DELETE RESTRICT,
    kind TEXT NOT NULL CHECK (kind IN ('earning', 'commission', 'earning_reversal',
        'commission_reversal', 'payout')),
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    created_at INTEGER NOT NULL
);
CREATE INDEX ledger_entries_vendor ON ledger_entries (vendor_id, created_at);
CREATE UNIQUE INDEX ledger_entries_paid_once ON ledger_entries (vendor_order_id, kind)
    WHERE kind IN ('earning', 'commission');

-- Stored results of idempotent requests (replayed for 48 hours). The key itself is stored only
-- as a hash: with the order id it is what a guest's order access token is derived from.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key_hash BLOB NOT NULL,
    request_hash BLOB NOT NULL,
    response_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    order_id BLOB,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key_hash)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
