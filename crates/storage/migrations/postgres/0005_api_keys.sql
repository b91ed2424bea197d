-- API keys for integrations: created by an admin, shown once, stored only as SHA-256 hashes.
CREATE TABLE api_keys (
    id UUID PRIMARY KEY NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    name TEXT NOT NULL CHECK (length(name) > 0),
    scopes TEXT NOT NULL,
    vendor_id UUID REFERENCES vendors (id) ON DELETE CASCADE,
    created_by UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
