//! Every product of every vendor, as platform staff look through the catalog: any status,
//! optionally found by words (the shop's full-text index), of one status or one vendor;
//! newest first, keyset by id.

use souk_domain::catalog::{ProductStatus, VendorRef, search_terms};
use uuid::Uuid;

use crate::db::Arg;
use crate::dialect::{fts_query, listing_from, listing_search_cte};
use crate::{Db, StorageError};

#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Words, as shoppers search (every word must match, as a prefix).
    pub search: Option<String>,
    pub status: Option<String>,
    pub vendor_id: Option<Uuid>,
    pub stock: Option<StockLevel>,
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// Products by how much of them is left to sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockLevel {
    /// At least one variant can be bought.
    InStock,
    /// A variant that tracks stock is down to its last few units (or none).
    Low,
    /// No variant can be bought.
    SoldOut,
}

impl StockLevel {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "in_stock" => Some(Self::InStock),
            "low" => Some(Self::Low),
            "sold_out" => Some(Self::SoldOut),
            _ => None,
        }
    }

    fn condition(self) -> String {
        // `available_variants` (migration 0026) counts the variants that can be bought now, as
        // the storefront's `in_stock` reads it: one column of the product row, where an
        // `EXISTS` read every variant of every product walked. "Sold out" and "low" are
        // served by partial indexes (migration 0028) whose conditions these repeat exactly.
        match self {
            Self::InStock => "p.available_variants > 0".to_owned(),
            Self::SoldOut => "p.available_variants = 0".to_owned(),
            Self::Low => format!(
                "EXISTS (SELECT 1 FROM variants y WHERE y.product_id = p.id \
                 AND y.track_inventory AND y.stock <= {})",
                souk_domain::cart::LOW_STOCK_THRESHOLD
            ),
        }
    }
}

/// One product as a panel's list shows it: its row and what its variants add up to.
#[derive(Debug, Clone)]
pub struct ProductSummary {
    pub id: Uuid,
    pub handle: String,
    pub title: String,
    pub status: ProductStatus,
    pub vendor: VendorRef,
    /// `None`: the product has no variant yet (nor the figures below).
    pub currency: Option<String>,
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    /// Units that can be sold, a variant's oversold (negative) stock counted as none.
    pub stock: i64,
    /// Some variant that tracks stock is down to its last few units.
    pub low_stock: bool,
    pub variants: i64,
}

struct SummaryRow {
    id: Uuid,
    handle: String,
    title: String,
    status: String,
    vendor_id: Uuid,
    vendor_handle: String,
    vendor_name: String,
    currency: Option<String>,
    price_min: Option<i64>,
    price_max: Option<i64>,
    stock: i64,
    low_stock: i64,
    variants: i64,
}

crate::from_row!(SummaryRow {
    id,
    handle,
    title,
    status,
    vendor_id,
    vendor_handle,
    vendor_name,
    currency,
    price_min,
    price_max,
    stock,
    low_stock,
    variants
});

/// A page of products as `f` asks, each with its variants' prices and stock, in one
/// statement: the page's ids first, newest first, then their rows and variants' figures.
/// (Reading the whole products, their descriptions and every variant, image and category in
/// four statements to show a line each was half of a vendor's product list page.)
pub async fn all_products(db: &Db, f: &ProductFilter) -> Result<Vec<ProductSummary>, StorageError> {
    let backend = db.backend();
    let mut args = Vec::new();
    let mut filters = vec!["1 = 1".to_owned()];
    let terms = f.search.as_deref().map(search_terms).unwrap_or_default();
    let search_param = (!terms.is_empty()).then(|| {
        args.push(Arg::Text(fts_query(backend, &terms)));
        args.len()
    });
    if let Some(status) = &f.status {
        args.push(Arg::Text(status.clone()));
        filters.push(format!("p.status = ${}", args.len()));
    }
    if let Some(vendor) = f.vendor_id {
        args.push(Arg::Uuid(vendor));
        filters.push(format!("p.vendor_id = ${}", args.len()));
    }
    if let Some(level) = f.stock {
        filters.push(level.condition());
    }
    if let Some(before) = f.before {
        args.push(Arg::Uuid(before));
        filters.push(format!("p.id < ${}", args.len()));
    }
    args.push(Arg::I64(f.limit));
    let search = listing_search_cte(backend, search_param)
        .map(|cte| format!("{cte}, "))
        .unwrap_or_default();
    let from = listing_from(backend, search_param, None);
    let filters = filters.join(" AND ");
    let limit = args.len();
    // The page is materialized so that the variants are read for its products alone. A search
    // sorts its matches' ids only: sorting the whole rows of a common word's 1,000 matches
    // cost 2.3 ms on SQLite at 20,000 products; their ids, 1.4 ms.
    let sql = format!(
        "WITH {search}page AS MATERIALIZED (SELECT p.id FROM {from} WHERE {filters} \
         ORDER BY p.id DESC LIMIT ${limit}) \
         SELECT p.id, p.handle, p.title, p.status, v.id AS vendor_id, v.handle AS vendor_handle, \
         v.name AS vendor_name, MIN(x.currency) AS currency, MIN(x.price) AS price_min, \
         MAX(x.price) AS price_max, \
         CAST(COALESCE(SUM(CASE WHEN x.stock > 0 THEN x.stock ELSE 0 END), 0) AS BIGINT) AS stock, \
         CAST(COALESCE(MAX(CASE WHEN x.track_inventory AND x.stock <= {low} THEN 1 ELSE 0 END), 0) \
         AS BIGINT) AS low_stock, CAST(COUNT(x.id) AS BIGINT) AS variants \
         FROM page JOIN products p ON p.id = page.id JOIN vendors v ON v.id = p.vendor_id \
         LEFT JOIN variants x ON x.product_id = p.id \
         GROUP BY p.id, v.id ORDER BY p.id DESC",
        low = souk_domain::cart::LOW_STOCK_THRESHOLD
    );
    let rows: Vec<SummaryRow> = crate::sql::query_as(sql)
        .bind_all(args)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ProductSummary {
            id: r.id,
            handle: r.handle,
            title: r.title,
            status: ProductStatus::parse(&r.status).unwrap_or(ProductStatus::Draft),
            vendor: VendorRef {
                id: r.vendor_id,
                handle: r.vendor_handle,
                name: r.vendor_name,
            },
            currency: r.currency,
            price_min: r.price_min,
            price_max: r.price_max,
            stock: r.stock,
            low_stock: r.low_stock != 0,
            variants: r.variants,
        })
        .collect())
}

/// The vendor of a product (`None`: no such product).
pub async fn product_vendor(db: &Db, product_id: Uuid) -> Result<Option<Uuid>, StorageError> {
    crate::sql::query_scalar("SELECT vendor_id FROM products WHERE id = $1")
        .bind(product_id)
        .fetch_optional(db)
        .await
}
