-- Catalog: vendors, categories, products, variants, images, full-text search.
-- Ids are UUIDv7; times are Unix milliseconds (UTC); money is integer minor units + ISO 4217 code.

CREATE TABLE vendors (
    id UUID PRIMARY KEY NOT NULL,
    handle TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL CHECK (length(name) > 0),
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'suspended')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE categories (
    id UUID PRIMARY KEY NOT NULL,
    parent_id UUID REFERENCES categories (id) ON DELETE RESTRICT,
    handle TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL CHECK (length(name) > 0),
    position BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX categories_parent ON categories (parent_id);

CREATE TABLE products (
    id UUID PRIMARY KEY NOT NULL,
    vendor_id UUID NOT NULL REFERENCES vendors (id) ON DELETE RESTRICT,
    handle TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL CHECK (length(title) > 0),
    title_sort TEXT COLLATE "C" NOT NULL,
    description_html TEXT NOT NULL DEFAULT '',
    product_type TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    option1_name TEXT,
    option2_name TEXT,
    option3_name TEXT,
    price_min BIGINT NOT NULL CHECK (price_min >= 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    search TSVECTOR NOT NULL DEFAULT ''::tsvector
);
CREATE INDEX products_vendor ON products (vendor_id);
CREATE INDEX products_newest ON products (status, created_at, id);
CREATE INDEX products_price ON products (status, price_min, id);
CREATE INDEX products_title ON products (status, title_sort, id);
CREATE INDEX products_search ON products USING GIN (search);

CREATE TABLE variants (
    id UUID PRIMARY KEY NOT NULL,
    product_id UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    sku TEXT UNIQUE,
    option1 TEXT,
    option2 TEXT,
    option3 TEXT,
    price BIGINT NOT NULL CHECK (price >= 0),
    compare_at_price BIGINT CHECK (compare_at_price IS NULL OR compare_at_price >= 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    stock BIGINT NOT NULL CHECK (stock >= 0),
    track_inventory BOOLEAN NOT NULL,
    grams BIGINT NOT NULL DEFAULT 0 CHECK (grams >= 0),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX variants_product ON variants (product_id, position);
CREATE UNIQUE INDEX variants_options ON variants (
    product_id, coalesce(option1, ''), coalesce(option2, ''), coalesce(option3, '')
);

CREATE TABLE product_images (
    id UUID PRIMARY KEY NOT NULL,
    product_id UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    url TEXT NOT NULL,
    alt TEXT NOT NULL DEFAULT ''
);
CREATE INDEX product_images_product ON product_images (product_id, position);

CREATE TABLE product_categories (
    product_id UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    category_id UUID NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    PRIMARY KEY (product_id, category_id)
);
CREATE INDEX product_categories_category ON product_categories (category_id, product_id);
