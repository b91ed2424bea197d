-- API keys for integrations: created by an admin, shown once, stored only as SHA-256 hashes.
CREATE TABLE api_keys (
    id BLOB PRIMARY KEY NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL CHECK (length(name) > 0),
    scopes TEXT NOT NULL,
    vendor_id BLOB REFERENCES vendors (id) ON DELETE CASCADE,
    created_by BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);
