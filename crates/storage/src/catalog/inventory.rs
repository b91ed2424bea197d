//! Stock across every vendor, for platform staff: low-stock lists and audits (e.g. the stock
//! conservation check of `souk loadtest`).

use souk_domain::catalog::variant_title;
use uuid::Uuid;

use crate::db::Arg;
use crate::{Db, StorageError};

/// Which variants to list; all filters are optional and combine.
#[derive(Debug, Clone, Default)]
pub struct InventoryFilter {
    pub product_id: Option<Uuid>,
    pub vendor_id: Option<Uuid>,
    /// Only variants that track inventory and hold at most this many units.
    pub max_stock: Option<i64>,
    /// Cursor: variants with a greater id.
    pub after: Option<Uuid>,
    pub limit: i64,
}

#[derive(Debug, Clone)]
struct InventoryDbRow {
    variant_id: Uuid,
    product_id: Uuid,
    product_title: String,
    product_status: String,
    vendor_id: Uuid,
    sku: Option<String>,
    option1: Option<String>,
    option2: Option<String>,
    option3: Option<String>,
    stock: i64,
    track_inventory: bool,
    price: i64,
    currency: String,
}

crate::from_row!(InventoryDbRow {
    variant_id,
    product_id,
    product_title,
    product_status,
    vendor_id,
    sku,
    option1,
    option2,
    option3,
    stock,
    track_inventory,
    price,
    currency
});

/// One variant's stock level.
#[derive(Debug, Clone)]
pub struct InventoryRow {
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub product_title: String,
    pub product_status: String,
    pub vendor_id: Uuid,
    pub sku: Option<String>,
    /// "Red / L", or "Default" for a product without options.
    pub title: String,
    pub stock: i64,
    pub track_inventory: bool,
    /// Minor units of `currency`.
    pub price: i64,
    pub currency: String,
}

/// Variants in id order (stable under concurrent writes, so paging sees each once).
pub async fn inventory(
    db: &Db,
    filter: &InventoryFilter,
) -> Result<Vec<InventoryRow>, StorageError> {
    let mut filters = vec!["1 = 1".to_owned()];
    let mut args = Vec::new();
    if let Some(p) = filter.product_id {
        args.push(Arg::Uuid(p));
        filters.push(format!("x.product_id = ${}", args.len()));
    }
    if let Some(v) = filter.vendor_id {
        args.push(Arg::Uuid(v));
        filters.push(format!("p.vendor_id = ${}", args.len()));
    }
    if let Some(m) = filter.max_stock {
        args.push(Arg::I64(m));
        filters.push(format!("x.track_inventory AND x.stock <= ${}", args.len()));
    }
    if let Some(a) = filter.after {
        args.push(Arg::Uuid(a));
        filters.push(format!("x.id > ${}", args.len()));
    }
    args.push(Arg::I64(filter.limit));
    let sql = format!(
        "SELECT x.id AS variant_id, x.product_id, p.title AS product_title, p.status AS product_status, \
         p.vendor_id, x.sku, x.option1, x.option2, x.option3, x.stock, x.track_inventory, x.price, x.currency \
         FROM variants x JOIN products p ON p.id = x.product_id WHERE {} ORDER BY x.id LIMIT ${}",
        filters.join(" AND "),
        args.len()
    );
    let rows: Vec<InventoryDbRow> = crate::sql::query_as(sql)
        .bind_all(args)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let options: Vec<String> = [r.option1, r.option2, r.option3]
                .into_iter()
                .flatten()
                .collect();
            InventoryRow {
                variant_id: r.variant_id,
                product_id: r.product_id,
                product_title: r.product_title,
                product_status: r.product_status,
                vendor_id: r.vendor_id,
                sku: r.sku,
                title: variant_title(&options),
                stock: r.stock,
                track_inventory: r.track_inventory,
                price: r.price,
                currency: r.currency,
            }
        })
        .collect())
}
