-- The storefront's branding, set by platform admins: one row (id 1). A NULL shop name means the
-- name the server was started with (SOUK_SHOP_NAME); a NULL accent colour the built-in one.
CREATE TABLE shop_settings (
    id SMALLINT PRIMARY KEY NOT NULL CHECK (id = 1),
    shop_name TEXT,
    tagline TEXT NOT NULL DEFAULT '',
    accent_color TEXT,
    logo_url TEXT,
    -- A JSON array of {"label": …, "url": …}.
    footer_links TEXT NOT NULL DEFAULT '[]',
    updated_at INTEGER NOT NULL
);
