//! The vendor's view of its own catalog: every status, stock levels, and narrow writes that are
//! always scoped by the vendor id (another vendor's ids are simply not found).

use std::collections::HashMap;

use souk_domain::catalog::Product;
use uuid::Uuid;

use super::{PRODUCT_COLUMNS, ProductRow, VendorRecord, hydrate, placeholders};
use crate::db::Arg;
use crate::{Db, StorageError, Tx, now_ms};

pub async fn vendor_by_id(db: &Db, id: Uuid) -> Result<Option<VendorRecord>, StorageError> {
    crate::sql::query_as("SELECT id, handle, name, status FROM vendors WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// One of `vendor_id`'s products, in any status.
pub async fn vendor_product(
    db: &Db,
    vendor_id: Uuid,
    id: Uuid,
) -> Result<Option<Product>, StorageError> {
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p JOIN vendors v ON v.id = p.vendor_id WHERE p.id = $1 AND p.vendor_id = $2"
    );
    let row: Option<ProductRow> = crate::sql::query_as(sql)
        .bind(id)
        .bind(vendor_id)
        .fetch_optional(db)
        .await?;
    Ok(hydrate(db, row.into_iter().collect()).await?.pop())
}

/// `vendor_id`'s products, newest first, optionally of one status.
pub async fn vendor_products(
    db: &Db,
    vendor_id: Uuid,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Product>, StorageError> {
    let mut args = vec![Arg::Uuid(vendor_id)];
    let mut filters = vec!["p.vendor_id = $1".to_owned()];
    if let Some(s) = status {
        args.push(Arg::Text(s.to_owned()));
        filters.push(format!("p.status = ${}", args.len()));
    }
    if let Some(b) = before {
        args.push(Arg::Uuid(b));
        filters.push(format!("p.id < ${}", args.len()));
    }
    args.push(Arg::I64(limit));
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p JOIN vendors v ON v.id = p.vendor_id WHERE {} ORDER BY p.id DESC LIMIT ${}",
        filters.join(" AND "),
        args.len()
    );
    let rows: Vec<ProductRow> = crate::sql::query_as(sql)
        .bind_all(args)
        .fetch_all(db)
        .await?;
    hydrate(db, rows).await
}

/// Category ids by handle (unknown handles are absent from the map).
pub async fn category_ids(
    db: &Db,
    handles: &[String],
) -> Result<HashMap<String, Uuid>, StorageError> {
    if handles.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT handle, id FROM categories WHERE handle IN ({})",
        placeholders(1, handles.len())
    );
    let args: Vec<Arg> = handles.iter().cloned().map(Arg::Text).collect();
    let rows: Vec<(String, Uuid)> = crate::sql::query_as(sql)
        .bind_all(args)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Sets the status of one of `vendor_id`'s products; false if it is not theirs.
pub async fn set_product_status(
    tx: &mut Tx,
    vendor_id: Uuid,
    id: Uuid,
    status: &str,
) -> Result<bool, StorageError> {
    let n = crate::sql::query(
        "UPDATE products SET status = $3, updated_at = $4 WHERE id = $1 AND vendor_id = $2",
    )
    .bind(id)
    .bind(vendor_id)
    .bind(status)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Sets the stock of one of `vendor_id`'s variants; returns its product id, or `None` if the
/// variant is not theirs.
pub async fn set_variant_stock(
    tx: &mut Tx,
    vendor_id: Uuid,
    variant_id: Uuid,
    stock: i64,
) -> Result<Option<Uuid>, StorageError> {
    crate::sql::query_scalar(
        "UPDATE variants SET stock = $3, updated_at = $4 WHERE id = $1 \
             AND product_id IN (SELECT id FROM products WHERE vendor_id = $2) RETURNING product_id",
    )
    .bind(variant_id)
    .bind(vendor_id)
    .bind(stock)
    .bind(now_ms())
    .fetch_optional(&mut *tx)
    .await
}

/// Sets the price of one of the vendor's variants and the price range of its product (the
/// listing's price filter and sorts read the range); returns the product's id.
pub async fn set_variant_price(
    tx: &mut Tx,
    vendor_id: Uuid,
    variant_id: Uuid,
    price: i64,
) -> Result<Option<Uuid>, StorageError> {
    let now = now_ms();
    let product: Option<Uuid> = crate::sql::query_scalar(
        "UPDATE variants SET price = $3, updated_at = $4 WHERE id = $1 \
             AND product_id IN (SELECT id FROM products WHERE vendor_id = $2) RETURNING product_id",
    )
    .bind(variant_id)
    .bind(vendor_id)
    .bind(price)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(product) = product {
        crate::sql::query(
            "UPDATE products SET \
                 price_min = (SELECT MIN(price) FROM variants WHERE product_id = $1), \
                 price_max = (SELECT MAX(price) FROM variants WHERE product_id = $1), \
                 updated_at = $2 WHERE id = $1",
        )
        .bind(product)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(product)
}

/// Whether a variant can be put in a cart: its product is published, its vendor active, and
/// it is priced in the cart's currency.
pub async fn variant_for_sale(
    db: &Db,
    variant_id: Uuid,
    currency: &str,
) -> Result<bool, StorageError> {
    let n: i64 = crate::sql::query_scalar(
        "SELECT COUNT(*) FROM variants v JOIN products p ON p.id = v.product_id \
             JOIN vendors vd ON vd.id = p.vendor_id WHERE v.id = $1 AND v.currency = $2 \
             AND p.status = 'published' AND vd.status = 'active'",
    )
    .bind(variant_id)
    .bind(currency)
    .fetch_one(db)
    .await?;
    Ok(n == 1)
}

/// A variant's stock now (`None`: no such variant).
pub async fn variant_stock(db: &Db, variant_id: Uuid) -> Result<Option<i64>, StorageError> {
    crate::sql::query_scalar("SELECT stock FROM variants WHERE id = $1")
        .bind(variant_id)
        .fetch_optional(db)
        .await
}

/// The currencies the catalog's prices are in (one, normally; none for an empty catalog).
pub async fn priced_currencies(db: &Db) -> Result<Vec<String>, StorageError> {
    crate::sql::query_scalar("SELECT DISTINCT currency FROM variants LIMIT 5")
        .fetch_all(db)
        .await
}
