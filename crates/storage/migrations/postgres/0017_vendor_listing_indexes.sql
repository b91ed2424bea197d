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
