-- The dashboard's stock filters (`catalog::oversight`), newest first, without walking the
-- shop's products and their variants. Both partial: small, and no other filter (`in stock`
-- is most products) is tempted by them.
-- A vendor's sold-out products: at 20,000 products with 389 sold out, the walk read about
-- 1,300 product rows for a page of 25.
CREATE INDEX products_vendor_sold_out ON products (vendor_id, id) WHERE available_variants = 0;
-- Variants down to their last few units (`souk_domain::cart::LOW_STOCK_THRESHOLD`, which the
-- filter's condition repeats exactly): "low stock" asks this index, not every variant.
CREATE INDEX variants_low_stock_product ON variants (product_id) WHERE track_inventory AND stock <= 5;
