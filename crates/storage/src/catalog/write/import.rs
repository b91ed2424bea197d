//! Bulk writes for imports and generated catalogs: vendors and category paths made on the way,
//! conflicts found up front, and new products inserted and indexed in batches.

use std::collections::HashMap;

use souk_domain::catalog::{Handle, ProductDraft, VendorStatus, is_available};
use souk_domain::html;
use souk_domain::money::Currency;
use uuid::Uuid;

use super::placeholders;
use crate::db::{Arg, values_placeholders};
use crate::dialect::search_words;
use crate::{Backend, Db, StorageError, Tx};

#[derive(Debug, Clone, PartialEq)]
pub struct VendorRecord {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    pub status: String,
}

crate::from_row!(VendorRecord {
    id,
    handle,
    name,
    status
});

/// The vendor with `handle`, created (active) with `name` if it does not exist yet.
pub async fn ensure_vendor(
    tx: &mut Tx,
    handle: &Handle,
    name: &str,
    now: i64,
) -> Result<VendorRecord, StorageError> {
    let existing: Option<VendorRecord> =
        crate::sql::query_as("SELECT id, handle, name, status FROM vendors WHERE handle = $1")
            .bind(handle.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(v) = existing {
        return Ok(v);
    }
    let record = VendorRecord {
        id: Uuid::now_v7(),
        handle: handle.to_string(),
        name: name.to_owned(),
        status: VendorStatus::Active.as_str().to_owned(),
    };
    crate::sql::query("INSERT INTO vendors (id, handle, name, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
            .bind(record.id)
            .bind(&record.handle)
            .bind(&record.name)
            .bind(&record.status)
            .bind(now)
            .execute(&mut *tx)
            .await?.rows_affected();
    Ok(record)
}

/// The category at `path` (names from the root), creating missing levels. `cache` spares
/// repeated look-ups within one import.
pub async fn ensure_category_path(
    tx: &mut Tx,
    path: &[String],
    cache: &mut HashMap<Vec<String>, Uuid>,
    now: i64,
) -> Result<Option<Uuid>, StorageError> {
    let mut parent: Option<(Uuid, String)> = None;
    for depth in 0..path.len() {
        let key = path[..=depth].to_vec();
        if let Some(&id) = cache.get(&key) {
            let handle =
                crate::sql::query_scalar::<String>("SELECT handle FROM categories WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            parent = Some((id, handle));
            continue;
        }
        let name = path[depth].trim();
        let found: Option<(Uuid, String)> = match &parent {
            None => {
                crate::sql::query_as(
                    "SELECT id, handle FROM categories WHERE name = $1 AND parent_id IS NULL",
                )
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
            }
            Some((pid, _)) => {
                crate::sql::query_as(
                    "SELECT id, handle FROM categories WHERE name = $1 AND parent_id = $2",
                )
                .bind(name)
                .bind(*pid)
                .fetch_optional(&mut *tx)
                .await?
            }
        };
        let (id, handle) = match found {
            Some(found) => found,
            None => {
                let handle =
                    free_category_handle(tx, name, parent.as_ref().map(|p| p.1.as_str())).await?;
                let id = Uuid::now_v7();
                crate::sql::query("INSERT INTO categories (id, parent_id, handle, name, position, created_at) VALUES ($1, $2, $3, $4, 0, $5)")
                        .bind(id)
                        .bind(parent.as_ref().map(|p| p.0))
                        .bind(&handle)
                        .bind(name)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?.rows_affected();
                (id, handle)
            }
        };
        cache.insert(key, id);
        parent = Some((id, handle));
    }
    Ok(parent.map(|p| p.0))
}

/// A unique handle for a new category: its name, else parent-name, else numbered.
async fn free_category_handle(
    tx: &mut Tx,
    name: &str,
    parent: Option<&str>,
) -> Result<String, StorageError> {
    let base = Handle::slugify(name).map_or_else(|| "category".to_owned(), |h| h.to_string());
    let mut candidates = vec![base.clone()];
    if let Some(parent) = parent {
        candidates.push(format!("{parent}-{base}"));
    }
    for n in 2..100 {
        candidates.push(format!("{base}-{n}"));
    }
    for candidate in candidates {
        let taken: Option<i64> =
            crate::sql::query_scalar("SELECT 1 FROM categories WHERE handle = $1")
                .bind(&candidate)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_none() {
            return Ok(candidate);
        }
    }
    Ok(format!("{base}-{}", Uuid::now_v7().simple()))
}

/// What an import would collide with in the database.
#[derive(Debug, Default)]
pub struct ImportConflicts {
    /// Product handles that belong to another vendor: handle → that vendor's handle.
    pub handles: HashMap<String, String>,
    /// SKUs used by a product with another handle: SKU → that product's handle.
    pub skus: HashMap<String, String>,
}

/// Finds handles and SKUs in an import that are already taken by someone else.
pub async fn find_conflicts(
    db: &Db,
    vendor_handle: &str,
    products: &[&ProductDraft],
) -> Result<ImportConflicts, StorageError> {
    let mut conflicts = ImportConflicts::default();
    let handles: Vec<String> = products.iter().map(|p| p.handle.to_string()).collect();
    let sku_owner: HashMap<&str, &str> = products
        .iter()
        .flat_map(|p| {
            p.variants
                .iter()
                .filter_map(move |v| v.sku.as_deref().map(|s| (s, p.handle.as_str())))
        })
        .collect();
    for chunk in handles.chunks(500) {
        let sql = format!(
            "SELECT p.handle, v.handle FROM products p JOIN vendors v ON v.id = p.vendor_id WHERE p.handle IN ({})",
            placeholders(1, chunk.len())
        );
        let args: Vec<Arg> = chunk.iter().cloned().map(Arg::Text).collect();
        let rows: Vec<(String, String)> = crate::sql::query_as(sql)
            .bind_all(args)
            .fetch_all(db)
            .await?;
        for (product, vendor) in rows {
            if vendor != vendor_handle {
                conflicts.handles.insert(product, vendor);
            }
        }
    }
    let skus: Vec<&str> = sku_owner.keys().copied().collect();
    for chunk in skus.chunks(500) {
        let sql = format!(
            "SELECT x.sku, p.handle FROM variants x JOIN products p ON p.id = x.product_id WHERE x.sku IN ({})",
            placeholders(1, chunk.len())
        );
        let args: Vec<Arg> = chunk.iter().map(|s| Arg::Text((*s).to_owned())).collect();
        let rows: Vec<(String, String)> = crate::sql::query_as(sql)
            .bind_all(args)
            .fetch_all(db)
            .await?;
        for (sku, product) in rows {
            if sku_owner
                .get(sku.as_str())
                .is_some_and(|owner| *owner != product)
            {
                conflicts.skus.insert(sku, product);
            }
        }
    }
    Ok(conflicts)
}

/// A product to add in bulk: its vendor, draft, categories and creation time.
pub struct NewProduct<'a> {
    pub vendor: &'a VendorRecord,
    pub draft: &'a ProductDraft,
    pub categories: &'a [Uuid],
    pub created_at: i64,
}

/// Adds many new products at once (a generated catalog, a first import): the same rows
/// [`upsert_product`] writes, in one multi-row statement per table instead of a dozen
/// statements per product. Every handle must be new (a taken one fails the whole call: use
/// `upsert_product` to update). Rows per statement are bounded to stay within both databases'
/// parameter limits.
pub async fn insert_new_products(
    tx: &mut Tx,
    products: &[NewProduct<'_>],
    currency: Currency,
) -> Result<(), StorageError> {
    // sqlx binds SQLite parameters by looking each one's name up among all of the statement's
    // (quadratic in their number): small statements there; PostgreSQL takes large ones.
    let chunk_len = match tx.backend() {
        crate::Backend::Sqlite => 12,
        crate::Backend::Postgres => 100,
    };
    for chunk in products.chunks(chunk_len) {
        let ids: Vec<Uuid> = chunk.iter().map(|_| Uuid::now_v7()).collect();
        let mut product_args = Vec::with_capacity(chunk.len() * 18);
        let mut variant_args = Vec::new();
        let mut image_args = Vec::new();
        let mut category_args = Vec::new();
        let mut search_args = Vec::with_capacity(chunk.len() * 5);
        for (p, &id) in chunk.iter().zip(&ids) {
            let d = p.draft;
            let title = d.title.trim();
            let option = |i: usize| Arg::OptText(d.option_names.get(i).cloned());
            product_args.extend([
                Arg::Uuid(id),
                Arg::Uuid(p.vendor.id),
                Arg::Text(d.handle.as_str().to_owned()),
                Arg::Text(title.to_owned()),
                Arg::Text(title.to_lowercase()),
                Arg::Text(d.description_html.clone()),
                Arg::Text(d.product_type.clone()),
                Arg::Text(d.tags.join(",")),
                Arg::Text(d.status.as_str().to_owned()),
                option(0),
                option(1),
                option(2),
                Arg::I64(d.variants.iter().map(|v| v.price).min().unwrap_or(0)),
                Arg::Text(currency.code().to_owned()),
                Arg::I64(p.created_at),
                Arg::I64(p.created_at),
                Arg::I64(d.variants.iter().map(|v| v.price).max().unwrap_or(0)),
                // Counted here, not by a trigger per variant (migration 0026).
                Arg::I64(
                    d.variants
                        .iter()
                        .filter(|v| is_available(v.track_inventory, v.stock.unwrap_or(0)))
                        .count() as i64,
                ),
            ]);
            for (position, v) in d.variants.iter().enumerate() {
                let value = |i: usize| Arg::OptText(v.option_values.get(i).cloned());
                variant_args.extend([
                    Arg::Uuid(Uuid::now_v7()),
                    Arg::Uuid(id),
                    Arg::I64(position as i64),
                    Arg::OptText(v.sku.clone().filter(|s| !s.is_empty())),
                    value(0),
                    value(1),
                    value(2),
                    Arg::I64(v.price),
                    Arg::OptI64(v.compare_at_price),
                    Arg::Text(currency.code().to_owned()),
                    Arg::I64(v.stock.unwrap_or(0)),
                    Arg::Bool(v.track_inventory),
                    Arg::I64(v.grams),
                    Arg::I64(p.created_at),
                    Arg::I64(p.created_at),
                ]);
            }
            for (position, image) in d.images.iter().enumerate() {
                image_args.extend([
                    Arg::Uuid(Uuid::now_v7()),
                    Arg::Uuid(id),
                    Arg::I64(position as i64),
                    Arg::Text(image.url.clone()),
                    Arg::Text(image.alt.clone()),
                ]);
            }
            for category in p.categories {
                category_args.extend([Arg::Uuid(id), Arg::Uuid(*category)]);
            }
            let skus: Vec<&str> = d.variants.iter().filter_map(|v| v.sku.as_deref()).collect();
            search_args.extend([
                Arg::Uuid(id),
                Arg::Text(search_words(title)),
                Arg::Text(search_words(&skus.join(" "))),
                Arg::Text(search_words(&p.vendor.name)),
                Arg::Text(search_words(&html::to_text(&d.description_html))),
            ]);
        }
        let statements = [
            (
                "INSERT INTO products (id, vendor_id, handle, title, title_sort, description_html, product_type, tags, status, \
                 option1_name, option2_name, option3_name, price_min, currency, created_at, updated_at, price_max, \
                 available_variants) VALUES",
                18,
                product_args,
            ),
            (
                "INSERT INTO variants (id, product_id, position, sku, option1, option2, option3, price, compare_at_price, \
                 currency, stock, track_inventory, grams, created_at, updated_at) VALUES",
                15,
                variant_args,
            ),
            (
                "INSERT INTO product_images (id, product_id, position, url, alt) VALUES",
                5,
                image_args,
            ),
            (
                "INSERT INTO product_categories (product_id, category_id) VALUES",
                2,
                category_args,
            ),
        ];
        for (insert, cols, args) in statements {
            if args.is_empty() {
                continue;
            }
            let sql = format!("{insert} {}", values_placeholders(args.len() / cols, cols));
            {
                crate::sql::query(sql)
                    .bind_all(args)
                    .execute(&mut *tx)
                    .await?;
            };
        }
        index_new_products(tx, search_args).await?;
    }
    Ok(())
}

/// Writes Souk's search entries of many new products (`args`: id, title, skus, vendor and
/// body words, per product) in one statement.
async fn index_new_products(tx: &mut Tx, args: Vec<Arg>) -> Result<(), StorageError> {
    let rows = args.len() / 5;
    if rows == 0 {
        return Ok(());
    }
    let values = values_placeholders(rows, 5);
    let titles: Vec<String> = args
        .iter()
        .skip(1)
        .step_by(5)
        .filter_map(|a| match a {
            Arg::Text(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    match tx.backend() {
        Backend::Sqlite => {
            let sql = format!(
                "INSERT INTO product_search (rowid, title, skus, vendor, body) \
                 SELECT p.rowid, d.column2, d.column3, d.column4, d.column5 \
                 FROM (VALUES {values}) d JOIN products p ON p.id = d.column1"
            );
            crate::sql::query(sql)
                .bind_all(args)
                .execute(&mut *tx)
                .await?;
        }
        Backend::Postgres => {
            let sql = format!(
                "UPDATE products SET search = \
                 setweight(to_tsvector('english', d.t), 'A') || \
                 setweight(to_tsvector('simple', d.s), 'B') || \
                 setweight(to_tsvector('english', d.v), 'B') || \
                 setweight(to_tsvector('english', d.b), 'C') \
                 FROM (VALUES {values}) d (id, t, s, v, b) WHERE products.id = d.id"
            );
            crate::sql::query(sql)
                .bind_all(args)
                .execute(&mut *tx)
                .await?;
        }
    }
    let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
    crate::catalog::typos::remember_title_words(tx, &titles).await
}
