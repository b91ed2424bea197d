//! Facet counts of a listing's whole result set: how many of the matching products are in each
//! category, from each vendor, in each price band, and in stock — what a shop shows beside its
//! search results so a shopper can narrow them.
//!
//! One query on both databases: the listing's own `FROM`/`WHERE` (the same plans, led by the
//! search match or the category) as a `WITH` entry `r`, counted five ways.

use super::list::{Lead, ListQuery, ListingSql, Select, choose_lead, listing_sql_for};
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
    let query = ListQuery {
        cursor: None,
        ..query.clone()
    };
    let (lead, tree) = choose_lead(db, &query).await?;
    // All of each category's products, not the first page's worth.
    let lead = match lead {
        Lead::CategoryCandidates(_) => Lead::CategoryCandidates(None),
        Lead::TopMatches(_) => Lead::TopMatches(None),
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
         UNION ALL SELECT 'in_stock', '', '', 0, COUNT(*) FROM r WHERE EXISTS (SELECT 1 FROM \
           variants y WHERE y.product_id = r.id AND (NOT y.track_inventory OR y.stock > 0)) \
         UNION ALL SELECT 'vendor', v.handle, v.name, 0, COUNT(*) FROM r \
           {then} vendors v ON v.id = r.vendor_id GROUP BY v.handle, v.name \
         UNION ALL SELECT 'category', c.handle, c.name, 0, COUNT(*) FROM r \
           {then} product_categories pc ON pc.product_id = r.id \
           {then} categories c ON c.id = pc.category_id GROUP BY c.handle, c.name \
         UNION ALL SELECT 'price', '', '', b.band, COUNT(*) FROM \
           (SELECT CAST(CASE {band} ELSE 0 END AS BIGINT) AS band FROM r) b GROUP BY b.band"
    );
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
