//! The catalog aggregate: vendors, categories, products and their variants and images.

mod categories;
mod export;
mod facets;
mod inventory;
mod list;
pub mod notices;
mod oversight;
pub(crate) mod typos;
mod vendor;
mod write;

use std::collections::HashMap;

use souk_domain::catalog::{
    Category, CategoryRef, ImageDraft, Product, ProductOption, ProductStatus, Variant, VendorRef,
    VendorStatus, variant_title,
};
use souk_domain::money::{Currency, Money};
use uuid::Uuid;

use crate::db::Arg;
use crate::{Db, StorageError};

pub use categories::{
    DeleteCategory, create_category, delete_category, update_category, would_cycle,
};
pub use export::{ExportCursor, export_page};
pub use facets::{FacetValue, Facets, PRICE_BANDS, PriceBand, product_facets};
pub use inventory::{InventoryFilter, InventoryRow, inventory};
pub use list::{ListQuery, Page, explain_listing, list_products};
pub use oversight::{ProductFilter, ProductSummary, StockLevel, all_products, product_vendor};
pub use typos::{SearchPage, corrected_search, search_products};
pub use vendor::{
    category_ids, priced_currencies, set_product_status, set_variant_price, set_variant_stock,
    variant_for_sale, variant_stock, vendor_by_id, vendor_product, vendor_products,
};
pub use write::{
    ImportConflicts, NewProduct, VendorRecord, ensure_category_path, ensure_vendor, find_conflicts,
    insert_new_products, reindex_vendor_name, upsert_product,
};

/// `$start, $start+1, …` for an `IN (…)` list of `n` values.
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) struct ProductRow {
    pub id: Uuid,
    pub handle: String,
    pub title: String,
    pub title_sort: String,
    pub description_html: String,
    pub product_type: String,
    pub tags: String,
    pub status: String,
    pub option1_name: Option<String>,
    pub option2_name: Option<String>,
    pub option3_name: Option<String>,
    pub price_min: i64,
    pub created_at: i64,
    pub vendor_id: Uuid,
    pub vendor_handle: String,
    pub vendor_name: String,
    pub score: Option<f64>,
    /// [`list::Lead::TopMatches`]: the lowest score among the matches ranked, and how many
    /// were (fewer than asked: every match was).
    pub score_floor: Option<f64>,
    pub ranked: Option<i64>,
}

crate::from_row!(ProductRow { id, handle, title, title_sort, description_html, product_type, tags, status, option1_name, option2_name, option3_name, price_min, created_at, vendor_id, vendor_handle, vendor_name } optional { score, score_floor, ranked });

/// Columns selected for a [`ProductRow`] (`p` = products, `v` = vendors).
pub(crate) const PRODUCT_COLUMNS: &str = "p.id, p.handle, p.title, p.title_sort, p.description_html, \
     p.product_type, p.tags, p.status, p.option1_name, p.option2_name, p.option3_name, p.price_min, \
     p.created_at, v.id AS vendor_id, v.handle AS vendor_handle, v.name AS vendor_name";

struct VariantRow {
    id: Uuid,
    product_id: Uuid,
    sku: Option<String>,
    option1: Option<String>,
    option2: Option<String>,
    option3: Option<String>,
    price: i64,
    compare_at_price: Option<i64>,
    currency: String,
    stock: i64,
    track_inventory: bool,
    grams: i64,
}

crate::from_row!(VariantRow {
    id,
    product_id,
    sku,
    option1,
    option2,
    option3,
    price,
    compare_at_price,
    currency,
    stock,
    track_inventory,
    grams
});

struct ImageRow {
    product_id: Uuid,
    url: String,
    alt: String,
}

crate::from_row!(ImageRow {
    product_id,
    url,
    alt
});

struct ProductCategoryRow {
    product_id: Uuid,
    id: Uuid,
    handle: String,
    name: String,
}

crate::from_row!(ProductCategoryRow {
    product_id,
    id,
    handle,
    name
});

impl ProductRow {
    fn option_names(&self) -> Vec<String> {
        [&self.option1_name, &self.option2_name, &self.option3_name]
            .into_iter()
            .map_while(|o| o.clone())
            .collect()
    }
}

fn split_tags(tags: &str) -> Vec<String> {
    tags.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Loads variants, images and categories for a page of products in three queries.
pub(crate) async fn hydrate(db: &Db, rows: Vec<ProductRow>) -> Result<Vec<Product>, StorageError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Arg> = rows.iter().map(|r| Arg::Uuid(r.id)).collect();
    let list = placeholders(1, ids.len());
    let variants_sql = format!(
        "SELECT id, product_id, sku, option1, option2, option3, price, compare_at_price, currency, \
         stock, track_inventory, grams FROM variants WHERE product_id IN ({list}) ORDER BY product_id, position"
    );
    let images_sql = format!(
        "SELECT product_id, url, alt FROM product_images WHERE product_id IN ({list}) ORDER BY product_id, position"
    );
    let categories_sql = format!(
        "SELECT pc.product_id, c.id, c.handle, c.name FROM product_categories pc \
         JOIN categories c ON c.id = pc.category_id WHERE pc.product_id IN ({list}) ORDER BY pc.product_id, c.handle"
    );
    let (variants, images, categories) = {
        let v: Vec<VariantRow> = crate::sql::query_as(variants_sql)
            .bind_all(ids.clone())
            .fetch_all(db)
            .await?;
        let i: Vec<ImageRow> = crate::sql::query_as(images_sql)
            .bind_all(ids.clone())
            .fetch_all(db)
            .await?;
        let c: Vec<ProductCategoryRow> = crate::sql::query_as(categories_sql)
            .bind_all(ids)
            .fetch_all(db)
            .await?;
        (v, i, c)
    };

    let mut variants_by: HashMap<Uuid, Vec<VariantRow>> = HashMap::new();
    for v in variants {
        variants_by.entry(v.product_id).or_default().push(v);
    }
    let mut images_by: HashMap<Uuid, Vec<ImageDraft>> = HashMap::new();
    for i in images {
        images_by.entry(i.product_id).or_default().push(ImageDraft {
            url: i.url,
            alt: i.alt,
        });
    }
    let mut categories_by: HashMap<Uuid, Vec<CategoryRef>> = HashMap::new();
    for c in categories {
        categories_by
            .entry(c.product_id)
            .or_default()
            .push(CategoryRef {
                id: c.id,
                handle: c.handle,
                name: c.name,
            });
    }

    Ok(rows
        .into_iter()
        .map(|row| {
            let names = row.option_names();
            let variant_rows = variants_by.remove(&row.id).unwrap_or_default();
            let values: Vec<Vec<String>> = variant_rows
                .iter()
                .map(|v| {
                    [&v.option1, &v.option2, &v.option3]
                        .into_iter()
                        .take(names.len())
                        .map(|o| o.clone().unwrap_or_default())
                        .collect()
                })
                .collect();
            let options: Vec<ProductOption> = Product::collect_options(&names, &values);
            let variants = variant_rows
                .into_iter()
                .zip(values)
                .map(|(v, vals)| {
                    let currency = Currency::parse(&v.currency).unwrap_or(Currency::USD);
                    Variant {
                        id: v.id,
                        sku: v.sku,
                        title: variant_title(&vals),
                        options: names.iter().cloned().zip(vals).collect(),
                        price: Money::new(v.price, currency),
                        compare_at_price: v.compare_at_price.map(|c| Money::new(c, currency)),
                        stock: v.stock,
                        track_inventory: v.track_inventory,
                        grams: v.grams,
                    }
                })
                .collect();
            Product {
                id: row.id,
                tags: split_tags(&row.tags),
                status: ProductStatus::parse(&row.status).unwrap_or(ProductStatus::Draft),
                vendor: VendorRef {
                    id: row.vendor_id,
                    handle: row.vendor_handle,
                    name: row.vendor_name,
                },
                categories: categories_by.remove(&row.id).unwrap_or_default(),
                images: images_by.remove(&row.id).unwrap_or_default(),
                options,
                variants,
                handle: row.handle,
                title: row.title,
                description_html: row.description_html,
                product_type: row.product_type,
                created_at_ms: row.created_at,
            }
        })
        .collect())
}

/// A product by handle; with `storefront_only`, only if shoppers may see it (published, active vendor).
pub async fn product_by_handle(
    db: &Db,
    handle: &str,
    storefront_only: bool,
) -> Result<Option<Product>, StorageError> {
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p JOIN vendors v ON v.id = p.vendor_id WHERE p.handle = $1{}",
        if storefront_only {
            " AND p.status = 'published' AND v.status = 'active'"
        } else {
            ""
        }
    );
    let row: Option<ProductRow> = crate::sql::query_as(sql)
        .bind(handle)
        .fetch_optional(db)
        .await?;
    Ok(hydrate(db, row.into_iter().collect()).await?.pop())
}

struct CategoryRow {
    id: Uuid,
    parent_id: Option<Uuid>,
    handle: String,
    name: String,
    position: i64,
}

crate::from_row!(CategoryRow {
    id,
    parent_id,
    handle,
    name,
    position
});

pub async fn all_categories(db: &Db) -> Result<Vec<Category>, StorageError> {
    let rows: Vec<CategoryRow> = crate::sql::query_as(
        "SELECT id, parent_id, handle, name, position FROM categories ORDER BY position, name",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|c| Category {
            id: c.id,
            parent_id: c.parent_id,
            handle: c.handle,
            name: c.name,
            position: c.position,
        })
        .collect())
}

/// A vendor's public profile.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorProfile {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    pub description: String,
    pub status: VendorStatus,
    pub product_count: i64,
    pub created_at_ms: i64,
    /// The shop's logo (`/media/…`), if it has one.
    pub logo_url: Option<String>,
}

struct VendorProfileRow {
    id: Uuid,
    handle: String,
    name: String,
    description: String,
    status: String,
    created_at: i64,
    product_count: i64,
    logo_url: Option<String>,
}

crate::from_row!(VendorProfileRow {
    id,
    handle,
    name,
    description,
    status,
    created_at,
    product_count,
    logo_url
});

/// Active vendors by handle, after the vendor `after` (a cursor: the last id of the previous
/// page), each with its number of published products.
pub async fn active_vendors(
    db: &Db,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<VendorProfile>, StorageError> {
    let rows: Vec<VendorProfileRow> = crate::sql::query_as(
            "SELECT v.id, v.handle, v.name, v.description, v.status, v.created_at, v.logo_url, \
             (SELECT COUNT(*) FROM products p WHERE p.vendor_id = v.id AND p.status = 'published') AS product_count \
             FROM vendors v WHERE v.status = 'active' \
             AND ($1 IS NULL OR v.handle > (SELECT c.handle FROM vendors c WHERE c.id = $1)) \
             ORDER BY v.handle LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| VendorProfile {
            id: r.id,
            handle: r.handle,
            name: r.name,
            description: r.description,
            status: VendorStatus::parse(&r.status).unwrap_or(VendorStatus::Pending),
            product_count: r.product_count,
            created_at_ms: r.created_at,
            logo_url: r.logo_url,
        })
        .collect())
}

/// A shop as a storefront lists it: for filters and the home page, without counting products.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorChoice {
    pub handle: String,
    pub name: String,
    pub logo_url: Option<String>,
}

crate::from_row!(VendorChoice {
    handle,
    name,
    logo_url
});

/// The first `limit` active vendors by handle (no product counts,
/// which would read every product of every vendor).
pub async fn vendor_choices(db: &Db, limit: i64) -> Result<Vec<VendorChoice>, StorageError> {
    crate::sql::query_as(
            "SELECT handle, name, logo_url FROM vendors WHERE status = 'active' ORDER BY handle LIMIT $1",
        )
        .bind(limit)
        .fetch_all(db)
        .await
}

/// A vendor by handle; with `storefront_only`, only an active one, counting its published products.
pub async fn vendor_by_handle(
    db: &Db,
    handle: &str,
    storefront_only: bool,
) -> Result<Option<VendorProfile>, StorageError> {
    let sql = format!(
        "SELECT v.id, v.handle, v.name, v.description, v.status, v.created_at, v.logo_url, \
         (SELECT COUNT(*) FROM products p WHERE p.vendor_id = v.id AND p.status = 'published') AS product_count \
         FROM vendors v WHERE v.handle = $1{}",
        if storefront_only {
            " AND v.status = 'active'"
        } else {
            ""
        }
    );
    let row: Option<VendorProfileRow> = crate::sql::query_as(sql)
        .bind(handle)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| VendorProfile {
        id: r.id,
        handle: r.handle,
        name: r.name,
        description: r.description,
        status: VendorStatus::parse(&r.status).unwrap_or(VendorStatus::Pending),
        product_count: r.product_count,
        created_at_ms: r.created_at,
        logo_url: r.logo_url,
    }))
}

/// Shoppers' products for a sitemap: (handle, last change in Unix ms), page `page` (from 0) of
/// `per_page` in id order, published products of active vendors only.
pub async fn sitemap_page(
    db: &Db,
    page: i64,
    per_page: i64,
) -> Result<Vec<(String, i64)>, StorageError> {
    crate::sql::query_as(
        "SELECT p.handle, p.updated_at FROM products p JOIN vendors v ON v.id = p.vendor_id \
             WHERE p.status = 'published' AND v.status = 'active' ORDER BY p.id LIMIT $1 OFFSET $2",
    )
    .bind(per_page)
    .bind(page.saturating_mul(per_page))
    .fetch_all(db)
    .await
}

/// How many products shoppers can see (published, of active vendors).
pub async fn count_shop_products(db: &Db) -> Result<i64, StorageError> {
    crate::sql::query_scalar(
        "SELECT COUNT(*) FROM products p JOIN vendors v ON v.id = p.vendor_id \
             WHERE p.status = 'published' AND v.status = 'active'",
    )
    .fetch_one(db)
    .await
}

/// Number of products (any status), for the demo seeder and operations.
pub async fn count_products(db: &Db) -> Result<i64, StorageError> {
    crate::sql::query_scalar("SELECT COUNT(*) FROM products")
        .fetch_one(db)
        .await
}

/// Refreshes PostgreSQL's planner statistics after a bulk load (an import, a generated
/// catalog), so the next queries are planned for the catalog as it now is rather than waiting
/// for autovacuum. `VACUUM` too: a load leaves a dead version of every product (its search
/// column is written after it), and a full-text index whose new entries wait in its pending
/// list; planned on those, a search's match scanned the whole table instead of the index
/// (20,000 products: 14 ms instead of 1.3). Nothing on SQLite: its listing plans are fixed by
/// the query shape (see `dialect::listing_from`) and do not rely on statistics.
pub async fn refresh_statistics(db: &Db) -> Result<(), StorageError> {
    if let Db::Postgres(pool) = db {
        sqlx::query("VACUUM ANALYZE products, variants, product_categories, categories, vendors")
            .execute(pool)
            .await?;
    }
    Ok(())
}
