//! Catalog writes: vendors, category paths and whole-product upserts (used by import and seeding).

mod import;

pub use import::*;

use std::collections::{HashMap, HashSet};

use souk_domain::catalog::ProductDraft;
use souk_domain::html;
use souk_domain::money::Currency;
use uuid::Uuid;

use super::placeholders;
use crate::dialect::{SearchDoc, index_product};
use crate::{Backend, StorageError, Tx};

/// A variant's id and option values.
type VariantOptionsRow = (Uuid, Option<String>, Option<String>, Option<String>);

/// Creates or replaces the product with `draft.handle` for `vendor`: fields, variants (kept by
/// option values, so their ids survive), images, category and search entry. Returns its id.
pub async fn upsert_product(
    tx: &mut Tx,
    vendor: &VendorRecord,
    draft: &ProductDraft,
    categories: &[Uuid],
    currency: Currency,
    now: i64,
) -> Result<Uuid, StorageError> {
    let existing: Option<(Uuid, Uuid)> =
        crate::sql::query_as("SELECT id, vendor_id FROM products WHERE handle = $1")
            .bind(draft.handle.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    let title = draft.title.trim();
    let price_min = draft.variants.iter().map(|v| v.price).min().unwrap_or(0);
    let price_max = draft.variants.iter().map(|v| v.price).max().unwrap_or(0);
    let option = |i: usize| draft.option_names.get(i).cloned();
    let tags = draft.tags.join(",");
    let taken = || {
        StorageError::Conflict(format!(
            "product handle '{}' belongs to another vendor",
            draft.handle
        ))
    };
    let new_id = existing.map_or_else(Uuid::now_v7, |(id, _)| id);
    let id: Option<Uuid> = match existing {
        Some((_, owner)) if owner != vendor.id => return Err(taken()),
        // Insert, or update in place (keeping id, vendor and creation time): one statement.
        // Only the vendor's own row is updated, even if another vendor took the handle after
        // the read above (PostgreSQL's READ COMMITTED): then no row comes back.
        _ => crate::sql::query_scalar(
                "INSERT INTO products (id, vendor_id, handle, title, title_sort, description_html, product_type, tags, status, \
                 option1_name, option2_name, option3_name, price_min, currency, created_at, updated_at, price_max) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16) \
                 ON CONFLICT (handle) DO UPDATE SET title = excluded.title, title_sort = excluded.title_sort, \
                 description_html = excluded.description_html, product_type = excluded.product_type, tags = excluded.tags, \
                 status = excluded.status, option1_name = excluded.option1_name, option2_name = excluded.option2_name, \
                 option3_name = excluded.option3_name, price_min = excluded.price_min, price_max = excluded.price_max, \
                 currency = excluded.currency, \
                 updated_at = excluded.updated_at \
                 WHERE products.vendor_id = excluded.vendor_id \
                 RETURNING id",
            )
            .bind(new_id)
            .bind(vendor.id)
            .bind(draft.handle.as_str())
            .bind(title)
            .bind(title.to_lowercase())
            .bind(&draft.description_html)
            .bind(&draft.product_type)
            .bind(&tags)
            .bind(draft.status.as_str())
            .bind(option(0))
            .bind(option(1))
            .bind(option(2))
            .bind(price_min)
            .bind(currency.code())
            .bind(now)
            .bind(price_max)
            .fetch_optional(&mut *tx)
            .await?,
    };
    let id = id.ok_or_else(taken)?;
    // An update also when the vendor's own concurrent request created the handle meanwhile.
    let is_update = existing.is_some() || id != new_id;

    // Variants: keep ids of variants whose option values are unchanged.
    let mut old: HashMap<Vec<String>, Uuid> = HashMap::new();
    if is_update {
        let rows: Vec<VariantOptionsRow> = crate::sql::query_as(
            "SELECT id, option1, option2, option3 FROM variants WHERE product_id = $1",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for (vid, o1, o2, o3) in rows {
            let key: Vec<String> = [o1, o2, o3].into_iter().map_while(|o| o).collect();
            old.insert(key, vid);
        }
        // Free the SKUs first so two variants may swap theirs.
        crate::sql::query("UPDATE variants SET sku = NULL WHERE product_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    let mut kept: HashSet<Uuid> = HashSet::new();
    for (position, v) in draft.variants.iter().enumerate() {
        let value = |i: usize| v.option_values.get(i).cloned();
        let sku = v.sku.as_deref().filter(|s| !s.is_empty());
        match old.get(&v.option_values) {
            Some(&vid) => {
                kept.insert(vid);
                crate::sql::query(
                        "UPDATE variants SET position = $2, sku = $3, price = $4, compare_at_price = $5, currency = $6, \
                         stock = COALESCE($7, stock), track_inventory = $8, grams = $9, updated_at = $10 WHERE id = $1",
                    )
                    .bind(vid)
                    .bind(position as i64)
                    .bind(sku)
                    .bind(v.price)
                    .bind(v.compare_at_price)
                    .bind(currency.code())
                    .bind(v.stock)
                    .bind(v.track_inventory)
                    .bind(v.grams)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?.rows_affected();
            }
            None => {
                crate::sql::query(
                        "INSERT INTO variants (id, product_id, position, sku, option1, option2, option3, price, compare_at_price, \
                         currency, stock, track_inventory, grams, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, COALESCE($11, 0), $12, $13, $14, $14)",
                    )
                    .bind(Uuid::now_v7())
                    .bind(id)
                    .bind(position as i64)
                    .bind(sku)
                    .bind(value(0))
                    .bind(value(1))
                    .bind(value(2))
                    .bind(v.price)
                    .bind(v.compare_at_price)
                    .bind(currency.code())
                    .bind(v.stock)
                    .bind(v.track_inventory)
                    .bind(v.grams)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?.rows_affected();
            }
        }
    }
    for (_, vid) in old.into_iter().filter(|(_, vid)| !kept.contains(vid)) {
        crate::sql::query("DELETE FROM variants WHERE id = $1")
            .bind(vid)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    // Triggers count changed and removed variants, not new ones (migration 0026): counted
    // again here, before the categories copy it.
    crate::sql::query(
        "UPDATE products SET available_variants = (SELECT COUNT(*) FROM variants y \
         WHERE y.product_id = $1 AND (NOT y.track_inventory OR y.stock > 0)) WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;

    if is_update {
        {
            crate::sql::query("DELETE FROM product_images WHERE product_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            crate::sql::query("DELETE FROM product_categories WHERE product_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        };
    }
    for (position, image) in draft.images.iter().enumerate() {
        crate::sql::query("INSERT INTO product_images (id, product_id, position, url, alt) VALUES ($1, $2, $3, $4, $5)")
                .bind(Uuid::now_v7())
                .bind(id)
                .bind(position as i64)
                .bind(&image.url)
                .bind(&image.alt)
                .execute(&mut *tx)
                .await?.rows_affected();
    }
    for category in categories {
        crate::sql::query(
            "INSERT INTO product_categories (product_id, category_id) VALUES ($1, $2)",
        )
        .bind(id)
        .bind(*category)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    let skus: Vec<&str> = draft
        .variants
        .iter()
        .filter_map(|v| v.sku.as_deref())
        .collect();
    let body = html::to_text(&draft.description_html);
    let doc = SearchDoc {
        title,
        skus: &skus.join(" "),
        vendor: &vendor.name,
        body: &body,
    };
    index_product(tx, id, &doc).await?;
    Ok(id)
}

/// Writes a vendor's (new) name into the search entries of all its products: SQLite updates the
/// FTS column in one statement; PostgreSQL rebuilds each product's vector (its parts are
/// weighted separately and cannot be edited one at a time).
pub async fn reindex_vendor_name(
    tx: &mut Tx,
    vendor_id: Uuid,
    name: &str,
) -> Result<(), StorageError> {
    match tx.backend() {
        Backend::Sqlite => {
            crate::sql::query(
                "UPDATE product_search SET vendor = $2 \
                 WHERE rowid IN (SELECT rowid FROM products WHERE vendor_id = $1)",
            )
            .bind(vendor_id)
            .bind(crate::dialect::search_words(name))
            .execute(&mut *tx)
            .await?;
            Ok(())
        }
        Backend::Postgres => {
            let products: Vec<(Uuid, String, String)> = crate::sql::query_as(
                "SELECT id, title, description_html FROM products WHERE vendor_id = $1",
            )
            .bind(vendor_id)
            .fetch_all(&mut *tx)
            .await?;
            let skus: Vec<(Uuid, String)> = crate::sql::query_as(
                "SELECT v.product_id, v.sku FROM variants v JOIN products p ON p.id = v.product_id \
                     WHERE p.vendor_id = $1 AND v.sku IS NOT NULL",
            )
            .bind(vendor_id)
            .fetch_all(&mut *tx)
            .await?;
            let mut by_product: HashMap<Uuid, Vec<&str>> = HashMap::new();
            for (product, sku) in &skus {
                by_product.entry(*product).or_default().push(sku);
            }
            for (id, title, description_html) in &products {
                let body = html::to_text(description_html);
                let skus = by_product.get(id).map(|s| s.join(" ")).unwrap_or_default();
                let doc = SearchDoc {
                    title,
                    skus: &skus,
                    vendor: name,
                    body: &body,
                };
                index_product(tx, *id, &doc).await?;
            }
            Ok(())
        }
    }
}
