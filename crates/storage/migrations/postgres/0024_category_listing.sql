-- A category page walks its products in the order it shows them. product_categories carries a
-- copy of each product's listing keys (status and the three sort keys), indexed per category,
-- so a page reads about `limit` entries instead of every product of the category and sorting
-- them. Triggers keep the copy exact whatever writes products: every write path, the importer
-- and hand-written SQL alike.
ALTER TABLE product_categories
    ADD COLUMN status TEXT NOT NULL DEFAULT 'draft',
    ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN price_min BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN title_sort TEXT COLLATE "C" NOT NULL DEFAULT '';

UPDATE product_categories pc
SET status = p.status, created_at = p.created_at, price_min = p.price_min, title_sort = p.title_sort
FROM products p
WHERE p.id = pc.product_id;

CREATE INDEX product_categories_newest ON product_categories (category_id, status, created_at, product_id);
CREATE INDEX product_categories_price ON product_categories (category_id, status, price_min, product_id);
CREATE INDEX product_categories_title ON product_categories (category_id, status, title_sort, product_id);

CREATE FUNCTION product_categories_copy_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT p.status, p.created_at, p.price_min, p.title_sort
    INTO NEW.status, NEW.created_at, NEW.price_min, NEW.title_sort
    FROM products p WHERE p.id = NEW.product_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER product_categories_copy_keys BEFORE INSERT ON product_categories
    FOR EACH ROW EXECUTE FUNCTION product_categories_copy_keys();

CREATE FUNCTION products_listing_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE product_categories
    SET status = NEW.status, created_at = NEW.created_at, price_min = NEW.price_min, title_sort = NEW.title_sort
    WHERE product_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER products_listing_keys AFTER UPDATE OF status, created_at, price_min, title_sort ON products
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.created_at IS DISTINCT FROM NEW.created_at
        OR OLD.price_min IS DISTINCT FROM NEW.price_min OR OLD.title_sort IS DISTINCT FROM NEW.title_sort)
    EXECUTE FUNCTION products_listing_keys();
