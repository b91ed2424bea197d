//! Facet counts of a listing's whole result set: how many of the matching products are in each
//! category, from each vendor, in each price band, and in stock — what a shop shows beside its
//! search results so a shopper can narrow them.
//!
//! One query on both databases. A search, a category or a price range: the listing's own
//! `FROM`/`WHERE` (the same plans, led by the search match or the category) as a `WITH`
//! entry `r`, counted five ways. Otherwise (the whole catalog, a vendor's products, what is in
//! stock): sums of the per-vendor counts of two indexes.

use souk_domain::catalog::search_terms;

use super::list::{Lead, ListQuery, ListingSql, Select, choose_lead, listing_sql_for};
use crate::db::Arg;
use crate::dialect::join_in_order;
use crate::{Db, StorageError};

/// Lower bounds of the price bands, in minor units; a product falls in the band of its lowest
/// variant price. The last band has no upper bound.
pub const PRICE_BANDS: [i64; 8] = [0, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000];

/// A category or vendor and how many matching products it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetValue {
    pub handle: String,
    pub name: String,
    pub count: i64,
}

/// Matching products whose lowest price is in `[min, max)` (`max` `None`: no upper bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBand {
    pub min: i64,
    pub max: Option<i64>,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facets {
    /// Matching products.
    pub total: i64,
    /// Matching products with a variant available now.
    pub in_stock: i64,
    /// The categories the matching products are filed in (directly), most products first.
    pub categories: Vec<FacetValue>,
    /// The vendors of the matching products, most products first.
    pub vendors: Vec<FacetValue>,
    /// Every price band, empty ones included, cheapest first.
    pub price_bands: Vec<PriceBand>,
}

/// The facets of everything `query` matches (its sort, limit and cursor do not matter).
pub async fn product_facets(db: &Db, query: &ListQuery) -> Result<Facets, StorageError> {
    let searched = query
        .search
        .as_deref()
        .is_some_and(|q| !search_terms(q).is_empty());
    let (sql, args) = if searched
        || query.category.is_some()
        || query.min_price.is_some()
        || query.max_price.is_some()
    {
        counted_over_matches(db, query, searched).await?
    } else {
        counted_from_copies(query)
    };
    let rows: Vec<(String, String, String, i64, i64)> = crate::sql::query_as(sql)
        .bind_all(args)
        .fetch_all(db)
        .await?;
    let mut facets = Facets {
        price_bands: PRICE_BANDS
            .iter()
            .enumerate()
            .map(|(i, &min)| PriceBand {
                min,
                max: PRICE_BANDS.get(i + 1).copied(),
                count: 0,
            })
            .collect(),
        ..Facets::default()
    };
    for (kind, handle, name, band, count) in rows {
        let value = || FacetValue {
            handle: handle.clone(),
            name: name.clone(),
            count,
        };
        match kind.as_str() {
            "total" => facets.total = count,
            "in_stock" => facets.in_stock = count,
            "vendor" => facets.vendors.push(value()),
            "category" => facets.categories.push(value()),
            "price" => {
                if let Some(b) = facets.price_bands.iter_mut().find(|b| b.min == band) {
                    b.count = count;
                }
            }
            _ => {}
        }
    }
    let by_count = |a: &FacetValue, b: &FacetValue| b.count.cmp(&a.count).then(a.name.cmp(&b.name));
    facets.vendors.sort_by(by_count);
    facets.categories.sort_by(by_count);
    Ok(facets)
}

/// Counts every product the listing matches, one by one: a search (`searched`), a category
/// tree or a price range decides which they are. Costs 3–5 µs a match on SQLite.
async fn counted_over_matches(
    db: &Db,
    query: &ListQuery,
    searched: bool,
) -> Result<(String, Vec<Arg>), StorageError> {
    let query = ListQuery {
        cursor: None,
        ..query.clone()
    };
    let (lead, tree) = choose_lead(db, &query).await?;
    // Every match is read, not a page's worth: all of each category's products, and a category
    // tree's products lead even when a page would be found sooner by walking the sort order
    // (a department and in stock: 360 ms walking all 100,000 products, 56 ms from the tree's).
    let lead = match lead {
        Lead::CategoryCandidates(_) => Lead::CategoryCandidates(None),
        Lead::TopMatches(_) => Lead::TopMatches(None),
        Lead::SortOrder if !searched && query.category.is_some() => Lead::Category,
        // Likewise the variants in a price range (40,000 of 100,000 products: 290 → 140 ms).
        Lead::SortOrder
            if !searched && (query.min_price.is_some() || query.max_price.is_some()) =>
        {
            Lead::PriceRange
        }
        lead => lead,
    };
    let ListingSql {
        sql: with, args, ..
    } = listing_sql_for(db.backend(), &query, lead, &tree, Select::Matches)?;
    let band = PRICE_BANDS
        .iter()
        .skip(1)
        .rev()
        .map(|min| format!("WHEN r.price_min >= {min} THEN {min}"))
        .collect::<Vec<_>>()
        .join(" ");
    // The matches lead every count: left to itself, SQLite starts the category count from the
    // categories and reads every product of each (20 ms for 178 matches of 100,000).
    let then = join_in_order(db.backend());
    let sql = format!(
        "{with}\
         SELECT 'total' AS kind, '' AS handle, '' AS name, CAST(0 AS BIGINT) AS band, COUNT(*) AS n FROM r \
         UNION ALL SELECT 'in_stock', '', '', 0, COUNT(*) FROM r WHERE r.available_variants > 0 \
         UNION ALL SELECT 'vendor', v.handle, v.name, 0, COUNT(*) FROM r \
           {then} vendors v ON v.id = r.vendor_id GROUP BY v.handle, v.name \
         UNION ALL SELECT 'category', c.handle, c.name, 0, COUNT(*) FROM r \
           {then} product_categories pc ON pc.product_id = r.id \
           {then} categories c ON c.id = pc.category_id GROUP BY c.handle, c.name \
         UNION ALL SELECT 'price', '', '', b.band, COUNT(*) FROM \
           (SELECT CAST(CASE {band} ELSE 0 END AS BIGINT) AS band FROM r) b GROUP BY b.band"
    );
    Ok((sql, args))
}

/// Counts a catalog that is not searched nor filtered by category or price (all of it, a
/// vendor's, what is in stock) from the copies of each product's vendor, lowest price and
/// availability: per vendor from one index of `products`, and per category and vendor from
/// one of `product_categories`, without reading a product (the whole 100,000-product
/// catalog's facets: 45 ms a request on SQLite, where counting them one by one took 300). Suspended vendors are dropped from the
/// per-vendor sums.
fn counted_from_copies(query: &ListQuery) -> (String, Vec<Arg>) {
    let mut args = Vec::new();
    let mut products = vec!["status = 'published'".to_owned()];
    let mut filed = vec!["status = 'published'".to_owned()];
    if let Some(vendor) = &query.vendor {
        args.push(Arg::Text(vendor.clone()));
        let by_vendor = "vendor_id = (SELECT id FROM vendors WHERE handle = $1)".to_owned();
        products.push(by_vendor.clone());
        filed.push(by_vendor);
    }
    if query.in_stock {
        products.push("available_variants > 0".to_owned());
        filed.push("available".to_owned());
    }
    let bands: Vec<(usize, i64, Option<i64>)> = PRICE_BANDS
        .iter()
        .enumerate()
        .map(|(i, &min)| (i, min, PRICE_BANDS.get(i + 1).copied()))
        .collect();
    let band_sums = bands
        .iter()
        .map(|(i, min, max)| {
            let below = max
                .map(|max| format!(" AND price_min < {max}"))
                .unwrap_or_default();
            format!(", SUM(CASE WHEN price_min >= {min}{below} THEN 1 ELSE 0 END) AS b{i}")
        })
        .collect::<String>();
    let band_rows = bands
        .iter()
        .map(|(i, min, _)| {
            format!(" UNION ALL SELECT 'price', '', '', {min}, CAST(COALESCE(SUM(b{i}), 0) AS BIGINT) FROM g")
        })
        .collect::<String>();
    let sql = format!(
        "WITH g AS MATERIALIZED (SELECT v.handle, v.name, x.* FROM \
           (SELECT vendor_id, COUNT(*) AS n, \
             SUM(CASE WHEN available_variants > 0 THEN 1 ELSE 0 END) AS in_stock{band_sums} \
            FROM products WHERE {} GROUP BY vendor_id) x \
           JOIN vendors v ON v.id = x.vendor_id WHERE v.status = 'active'), \
         k AS (SELECT c.handle, c.name, SUM(y.n) AS n FROM \
           (SELECT vendor_id, category_id, COUNT(*) AS n FROM product_categories \
            WHERE {} GROUP BY vendor_id, category_id) y \
           JOIN vendors v ON v.id = y.vendor_id JOIN categories c ON c.id = y.category_id \
           WHERE v.status = 'active' GROUP BY c.handle, c.name) \
         SELECT 'total' AS kind, '' AS handle, '' AS name, CAST(0 AS BIGINT) AS band, \
           CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM g \
         UNION ALL SELECT 'in_stock', '', '', 0, CAST(COALESCE(SUM(in_stock), 0) AS BIGINT) FROM g \
         UNION ALL SELECT 'vendor', handle, name, 0, CAST(n AS BIGINT) FROM g \
         UNION ALL SELECT 'category', handle, name, 0, CAST(n AS BIGINT) FROM k{band_rows}",
        products.join(" AND "),
        filed.join(" AND "),
    );
    (sql, args)
}
