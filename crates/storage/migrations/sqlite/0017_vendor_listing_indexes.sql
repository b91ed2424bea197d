-- A vendor's page lists its products in each sort order. With only (vendor_id), the planner
-- walked the whole catalog in sort order and skipped other vendors' products: cost grew with
-- the catalog, worst for a small vendor. These start at the vendor and are already sorted.
CREATE INDEX products_vendor_newest ON products (vendor_id, status, created_at, id);
CREATE INDEX products_vendor_price ON products (vendor_id, status, price_min, id);
CREATE INDEX products_vendor_title ON products (vendor_id, status, title_sort, id);
-- products_vendor_newest serves everything products_vendor did (its first column).
DROP INDEX products_vendor;
-- A narrow price range is listed starting from the variants in it.
CREATE INDEX variants_price ON variants (price, product_id);
-- The highest variant price beside the lowest: a product can have a variant in a price range
-- only if price_min <= max and price_max >= min, both read from the price index alone, so a
-- listing walked in price order skips products that cannot match without reading their
-- variants.
ALTER TABLE products ADD COLUMN price_max INTEGER NOT NULL DEFAULT 0;
UPDATE products SET price_max = COALESCE((SELECT MAX(price) FROM variants WHERE variants.product_id = products.id), price_min);
DROP INDEX products_price;
CREATE INDEX products_price ON products (status, price_min, id, price_max);
